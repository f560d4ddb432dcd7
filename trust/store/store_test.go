package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// root is a minimal root.json of a version: enough for the store, which
// trusts its caller to have validated it.
func root(v int, key string) []byte {
	return []byte(fmt.Sprintf(`{"signed":{"_type":"Root","version":%d,"keys":{},"roles":{"root":{"keyids":[%q],"threshold":1}}},"signatures":[]}`, v, key))
}

// bigRoot is root padded to about size bytes, as a real root.json with
// its keys' certificates is (about 2 KB).
func bigRoot(v int, key string, size int) []byte {
	r := root(v, key)
	pad := max(size-len(r)-9, 0)
	return []byte(fmt.Sprintf(`%s,"pad":%q}`, r[:len(r)-1], strings.Repeat("x", pad)))
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
	for _, c := range []struct {
		name string
		perm os.FileMode
	}{{"", 0o700}, {"packs", 0o700}, {"state.json", 0o600}, {"packs/00000001.pack", 0o600}, {"packs/00000002.pack", 0o600}} {
		if fi, err := os.Stat(filepath.Join(s.Dir, c.name)); err != nil || fi.Mode().Perm() != c.perm {
			t.Fatalf("%s: %v %v", c.name, fi, err)
		}
	}
	if h, err := s.History(gun); err != nil || len(h) != 3 || string(h[1]) != string(root(2, "k1")) {
		t.Fatalf("history %q %v", h, err)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].GUN != gun {
		t.Fatalf("list %+v %v", list, err)
	}
	// Forget back to a version held, then entirely.
	if p, err := s.Forget(gun, 2, now); err != nil || p.Version != 2 || fmt.Sprint(p.Versions) != "[1 2]" || !strings.Contains(p.Detail, "version 2 kept when version 3 was forgotten") {
		t.Fatalf("forget to 2: %+v %v", p, err)
	}
	if p, r, err := Open(s.Dir).Pinned(gun); err != nil || p.Version != 2 || string(r) != string(root(2, "k1")) {
		t.Fatalf("after forget, read afresh: %+v %q %v", p, r, err)
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
	// No pin names a pack any more: the next write drops them all.
	if _, err := s.Set("example.com/other", nil, root(1, "k"), SourceSigned, "", now); err != nil {
		t.Fatal(err)
	}
	if got := packs(t, s); fmt.Sprint(got) != "[00000003.pack]" {
		t.Fatalf("packs %v", got)
	}
}

// Forgetting in a store that does not exist says so and makes nothing.
func TestForgetMakesNoStore(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "trust"))
	if _, err := s.Forget("example.com/a", 0, time.Now()); err == nil || !strings.Contains(err.Error(), "nothing is pinned for it") {
		t.Fatalf("forget: %v", err)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Fatalf("the store was made: %v", err)
	}
}

// A Store keeps the state it parsed while state.json is unchanged, and
// sees at once what another writer (here another Store, as another
// process would) committed. Many goroutines read and write one Store
// (run with -race).
func TestStateCacheFollowsOtherWriters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trust")
	s, other := Open(dir), Open(dir)
	now := time.Now()
	if _, err := s.Set("example.com/a", nil, root(1, "k1"), SourceSigned, "", now); err != nil {
		t.Fatal(err)
	}
	first, _ := s.current()
	if again, _ := s.current(); again != first {
		t.Fatal("the state was parsed again though state.json did not change")
	}
	if _, err := other.Set("example.com/a", nil, root(2, "k2"), SourceSigned, "", now); err != nil {
		t.Fatal(err)
	}
	if p, r, err := s.Pinned("example.com/a"); err != nil || p.Version != 2 || string(r) != string(root(2, "k2")) {
		t.Fatalf("the other writer's pin is not seen: %+v %v", p, err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gun := fmt.Sprintf("example.com/g%d", i)
			for v := 1; v <= 5; v++ {
				if _, err := s.Set(gun, nil, root(v, "k"), SourceSigned, "", now); err != nil {
					errs <- err
					return
				}
				if p, r, err := s.Pinned(gun); err != nil || p.Version != v || string(r) != string(root(v, "k")) {
					errs <- fmt.Errorf("%s: %+v %v", gun, p, err)
					return
				}
				if _, err := s.List(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if list, err := Open(dir).List(); err != nil || len(list) != 9 {
		t.Fatalf("list: %d %v", len(list), err)
	}
}

// packs lists the store's pack files.
func packs(t *testing.T, s *Store) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Dir, packsDir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
