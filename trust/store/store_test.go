package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// root is a minimal root.json of a version: enough for the store, which
// trusts its caller to have validated it.
func root(v int, key string) []byte {
	return []byte(fmt.Sprintf(`{"signed":{"_type":"Root","version":%d,"keys":{},"roles":{"root":{"keyids":[%q],"threshold":1}}},"signatures":[]}`, v, key))
}

func TestPinsAdvanceAndNeverGoBack(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "trust"))
	const gun = "registry:5000/org/app"
	if p, err := s.Pin(gun); p != nil || err != nil {
		t.Fatalf("empty store: %v %v", p, err)
	}
	now := time.Now()
	if _, err := s.Set(gun, nil, root(1, "k1"), SourceSigned, "init", now); err != nil {
		t.Fatal(err)
	}
	p, err := s.Set(gun, [][]byte{root(2, "k1")}, root(3, "k2"), SourceVerified, "", now)
	if err != nil || p.Version != 3 || fmt.Sprint(p.Versions) != "[1 2 3]" || p.RootKeyIDs[0] != "k2" {
		t.Fatalf("pin %+v, %v", p, err)
	}
	if _, err := s.Set(gun, nil, root(2, "k1"), SourceSigned, "", now); err == nil || !strings.Contains(err.Error(), "older than version 3") {
		t.Fatalf("going back: %v", err)
	}
	if fi, err := os.Stat(s.repoDir(gun)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("repo dir: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(s.repoDir(gun), "pin.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("pin.json: %v %v", fi.Mode(), err)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].GUN != gun {
		t.Fatalf("list %+v %v", list, err)
	}
	// Forget back to a version held, then entirely.
	if p, err := s.Forget(gun, 2, now); err != nil || p.Version != 2 || fmt.Sprint(p.Versions) != "[1 2]" {
		t.Fatalf("forget to 2: %+v %v", p, err)
	}
	if _, err := s.Forget(gun, 5, now); err == nil {
		t.Fatal("forget to a version above the pin")
	}
	if _, err := s.Forget(gun, 0, now); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Pin(gun); p != nil {
		t.Fatalf("still pinned: %+v", p)
	}
}

// A pin.json that is a FIFO or another GUN's is refused, not trusted.
func TestUnreadablePinsAreRefused(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "trust"))
	if _, err := s.Set("example.com/a", nil, root(1, "k"), SourceSigned, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(s.repoDir("example.com/a"), "pin.json"))
	os.MkdirAll(s.repoDir("example.com/b"), 0o700)
	os.WriteFile(filepath.Join(s.repoDir("example.com/b"), "pin.json"), b, 0o600)
	if _, err := s.Pin("example.com/b"); err == nil {
		t.Fatal("another GUN's pin was accepted")
	}
}
