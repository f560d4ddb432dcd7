package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The trust store is this machine's own root of trust: whoever can write
// it can pin what they like, in format 1 as in format 2, and is outside
// the threat model. What these checks stop is a damaged disk, a torn or
// truncated file, and a state.json that would have keyrite read a file
// outside packs/: each refused, no root returned, nothing pinned on top.

// damagedStore is a store with two GUNs pinned in one pack, each root
// 2,048 bytes.
func damagedStore(t *testing.T) *Store {
	t.Helper()
	s := Open(filepath.Join(t.TempDir(), "trust"))
	if _, err := s.SetBatch([]Update{
		{GUN: "example.com/a", Root: bigRoot(1, "ka", 2048), Source: SourceSigned},
		{GUN: "example.com/b", Root: bigRoot(1, "kb", 2048), Source: SourceSigned},
	}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Pinned("example.com/a"); err != nil { // cached, as in a session
		t.Fatal(err)
	}
	return s
}

// refused checks that every read of gun's roots fails saying want, on s
// (which may have cached the state) and on a fresh Store.
func refused(t *testing.T, s *Store, gun, want string, damaged bool) {
	t.Helper()
	for _, st := range []*Store{s, Open(s.Dir)} {
		_, root, err1 := st.Pinned(gun)
		root2, err2 := st.Root(gun, 1)
		hist, err3 := st.History(gun)
		if root != nil || root2 != nil || hist != nil {
			t.Fatalf("%s: a root was returned", gun)
		}
		for _, err := range []error{err1, err2, err3} {
			var d *DamagedError
			if err == nil || !strings.Contains(err.Error(), want) || damaged != errors.As(err, &d) {
				t.Fatalf("%s: %v, want %s", gun, err, want)
			}
		}
	}
}

func TestDoctoredPackIsRefused(t *testing.T) {
	for _, c := range []struct {
		name    string
		gun     string
		doctor  func(path string, b []byte) error
		want    string
		damaged bool // a *DamagedError; else fsutil's error for a file it refuses
	}{
		{"byte changed", "example.com/a", func(p string, b []byte) error {
			b[100] ^= 1
			return os.WriteFile(p, b, 0o600)
		}, "is damaged: " + "PACK: root version 1 of example.com/a: its bytes do not match the SHA-256 state.json records", true},
		{"truncated", "example.com/b", func(p string, b []byte) error { return os.Truncate(p, int64(len(b)-1)) },
			"root version 1 of example.com/b: the pack is 4095 bytes, and state.json puts the root at bytes 2048 to 4096 (truncated)", true},
		{"missing", "example.com/a", func(p string, b []byte) error { return os.Remove(p) },
			"PACK: missing, and state.json names it for root version 1 of example.com/a", true},
		{"symbolic link", "example.com/a", func(p string, b []byte) error {
			other := filepath.Join(filepath.Dir(p), "..", "elsewhere")
			if err := os.WriteFile(other, b, 0o600); err != nil {
				return err
			}
			os.Remove(p)
			return os.Symlink(other, p)
		}, "trust store pack PACK is a symbolic link, not a regular file", false},
		{"readable by others", "example.com/a", func(p string, b []byte) error { return os.Chmod(p, 0o644) },
			"trust store pack PACK has mode 0644", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := damagedStore(t)
			p := s.packPath("00000001.pack")
			b, _ := os.ReadFile(p)
			if err := c.doctor(p, b); err != nil {
				t.Fatal(err)
			}
			refused(t, s, c.gun, strings.ReplaceAll(c.want, "PACK", p), c.damaged)
		})
	}
}

// A state.json that is not what a writer makes is refused whole, by every
// read and by a writer, which pins nothing on top of it.
func TestDoctoredStateIsRefused(t *testing.T) {
	for _, c := range []struct {
		name      string
		old, new_ string
		want      string
	}{
		{"a pack outside packs/", `"pack":"00000001.pack"`, `"pack":"../x"`, `root version 1 is in "../x", not a pack of packs/`},
		{"an absolute path", `"pack":"00000001.pack"`, `"pack":"/etc/passwd"`, `root version 1 is in "/etc/passwd", not a pack of packs/`},
		{"a pack not written yet", `"pack":"00000001.pack"`, `"pack":"00000002.pack"`, `root version 1 is in "00000002.pack", not a pack of packs/`},
		{"a root too long", `"length":2048`, `"length":2097152`, "root version 1 has offset 0 and length 2097152"},
		{"no SHA-256", `"sha256":"`, `"sha256":"zz`, "root version 1 has no SHA-256"},
		{"a pin not held", `"version":1,"source"`, `"version":2,"source"`, "its pinned version 2 is not held"},
		{"another format", formatMark, "keyrite-trust-store/3", `its format is "keyrite-trust-store/3"`},
		{"torn", `"repos":[`, `"repos":[{`, "it does not parse"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := damagedStore(t)
			b, _ := os.ReadFile(s.statePath())
			doctored := strings.Replace(string(b), c.old, c.new_, 1)
			if doctored == string(b) {
				t.Fatalf("%s not in state.json:\n%s", c.old, b)
			}
			if err := os.WriteFile(s.statePath(), []byte(doctored), 0o600); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, s.Dir)
			for _, st := range []*Store{s, Open(s.Dir)} {
				_, err1 := st.Pin("example.com/a")
				_, err2 := st.List()
				_, err3 := st.Set("example.com/c", nil, root(1, "kc"), SourceSigned, "", time.Now())
				_, err4 := st.Forget("example.com/a", 0, time.Now())
				for _, err := range []error{err1, err2, err3, err4} {
					var d *DamagedError
					if !errors.As(err, &d) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "trust store "+s.Dir+" is damaged: "+s.statePath()) {
						t.Fatalf("%v, want %s", err, c.want)
					}
				}
			}
			if after := snapshot(t, s.Dir); after != before {
				t.Fatalf("the store changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	// A symbolic link in place of state.json is refused as fsutil refuses
	// one.
	s := damagedStore(t)
	os.Rename(s.statePath(), filepath.Join(s.Dir, "elsewhere"))
	os.Symlink(filepath.Join(s.Dir, "elsewhere"), s.statePath())
	if _, err := s.Pin("example.com/a"); err == nil || !strings.Contains(err.Error(), "is a symbolic link, not a regular file") {
		t.Fatalf("state.json as a link: %v", err)
	}
	// So is a store that lost its state.json (the repos marker says it is
	// format 2): not an empty store, which would trust every GUN on first
	// use.
	os.Remove(s.statePath())
	if _, err := s.Pin("example.com/a"); err == nil || !strings.Contains(err.Error(), "missing: the store is format 2") {
		t.Fatalf("state.json gone: %v", err)
	}
}

// A pack rewritten together with its SHA-256 in state.json (a rebuilt
// manifest) is read: only a writer of the store can do it, and the store
// is the machine's own root of trust (see the top of this file). This
// test records that boundary.
func TestRebuiltStateIsTheWritersWord(t *testing.T) {
	s := damagedStore(t)
	p := s.packPath("00000001.pack")
	b, _ := os.ReadFile(p)
	old := sha256.Sum256(b[:2048])
	forged := bigRoot(1, "kx", 2048)
	copy(b, forged)
	sum := sha256.Sum256(forged)
	os.WriteFile(p, b, 0o600)
	st, _ := os.ReadFile(s.statePath())
	os.WriteFile(s.statePath(), []byte(strings.Replace(string(st), hex.EncodeToString(old[:]), hex.EncodeToString(sum[:]), 1)), 0o600)
	if _, r, err := Open(s.Dir).Pinned("example.com/a"); err != nil || string(r) != string(forged) {
		t.Fatalf("%v", err)
	}
}
