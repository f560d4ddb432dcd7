package store

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// partials lists every temporary left anywhere in the store.
func partials(t *testing.T, s *Store) []string {
	t.Helper()
	var left []string
	filepath.WalkDir(s.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(d.Name(), ".partial-") {
			left = append(left, p)
		}
		return nil
	})
	return left
}

func TestSetBatchPinsEveryGUN(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "trust"))
	now := time.Now()
	if _, err := s.Set("example.com/old", nil, root(1, "k1"), SourceSigned, "", now); err != nil {
		t.Fatal(err)
	}
	var ups []Update
	for i := range 50 {
		ups = append(ups, Update{GUN: fmt.Sprintf("example.com/app%02d", i), Root: root(1, fmt.Sprintf("k%d", i)), Source: SourceSigned, Detail: "init"})
	}
	// A GUN twice (its current root trusted, then its new one signed), the
	// second with a chain: the later update builds on the earlier.
	ups = append(ups,
		Update{GUN: "example.com/old", Chain: [][]byte{root(2, "k1")}, Root: root(3, "k2"), Source: SourceVerified},
		Update{GUN: "example.com/old", Root: root(4, "k3"), Source: SourceSigned, Detail: "rotate"})
	ps, err := s.SetBatch(ups, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != len(ups) || ps[0].Version != 1 || ps[0].RootKeyIDs[0] != "k0" || fmt.Sprint(ps[0].Versions) != "[1]" {
		t.Fatalf("pins %+v", ps[0])
	}
	for _, u := range ups[:50] {
		p, r, err := s.Pinned(u.GUN)
		if err != nil || p == nil || p.Version != 1 || string(r) != string(u.Root) || p.Detail != "init" {
			t.Fatalf("%s: %+v %v", u.GUN, p, err)
		}
		if fi, err := os.Stat(filepath.Join(s.repoDir(u.GUN), "pin.json")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: pin.json %v %v", u.GUN, fi.Mode(), err)
		}
	}
	p, err := s.Pin("example.com/old")
	if err != nil || p.Version != 4 || p.Source != SourceSigned || fmt.Sprint(p.Versions) != "[1 2 3 4]" || p.RootKeyIDs[0] != "k3" {
		t.Fatalf("old: %+v %v", p, err)
	}
	if left := partials(t, s); len(left) != 0 {
		t.Fatalf("temporaries left: %v", left)
	}
}

// A rollback in the middle of a batch is refused before anything is
// written: no GUN of the batch is pinned, no directory made, no temporary
// left, and the refused GUN keeps its pin.
func TestSetBatchRollbackWritesNothing(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "trust"))
	now := time.Now()
	if _, err := s.Set("example.com/b", [][]byte{root(1, "k1"), root(2, "k1")}, root(3, "k2"), SourceSigned, "", now); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s.Dir)
	ups := []Update{
		{GUN: "example.com/a", Root: root(1, "ka"), Source: SourceSigned},
		{GUN: "example.com/b", Root: root(2, "k1"), Source: SourceSigned},
		{GUN: "example.com/c", Root: root(1, "kc"), Source: SourceSigned},
	}
	_, err := s.SetBatch(ups, now)
	if err == nil || !strings.Contains(err.Error(), "example.com/b: root version 2 is older than version 3 trusted here") {
		t.Fatalf("rollback: %v", err)
	}
	if after := snapshot(t, s.Dir); after != before {
		t.Fatalf("the store changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// So does a root that does not parse, after good ones.
	ups[1] = Update{GUN: "example.com/b", Root: []byte("{not json"), Source: SourceSigned}
	if _, err := s.SetBatch(ups, now); err == nil {
		t.Fatal("an unparsable root was pinned")
	}
	if after := snapshot(t, s.Dir); after != before {
		t.Fatalf("the store changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// A rename that fails after every temporary is written (here: a root's
// place is a directory) leaves no temporary, no new pin, and no directory
// the batch made.
func TestSetBatchFailureCleansUp(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "trust"))
	now := time.Now()
	if _, err := s.Set("example.com/a", nil, root(1, "k1"), SourceSigned, "", now); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.repoDir("example.com/a"), "2.root.json", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := s.SetBatch([]Update{
		{GUN: "example.com/a", Root: root(2, "k2"), Source: SourceSigned},
		{GUN: "example.com/b", Root: root(1, "kb"), Source: SourceSigned},
	}, now)
	if err == nil {
		t.Fatal("the batch succeeded")
	}
	if left := partials(t, s); len(left) != 0 {
		t.Fatalf("temporaries left: %v", left)
	}
	if p, err := s.Pin("example.com/a"); err != nil || p.Version != 1 {
		t.Fatalf("a: %+v %v", p, err)
	}
	if p, err := s.Pin("example.com/b"); err != nil || p != nil {
		t.Fatalf("b: %+v %v", p, err)
	}
}

// The temporaries a killed writer left are removed by the next batch that
// touches their GUN; other files are left alone.
func TestSetBatchRemovesStaleTemporaries(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "trust"))
	now := time.Now()
	if _, err := s.Set("example.com/a", nil, root(1, "k1"), SourceSigned, "", now); err != nil {
		t.Fatal(err)
	}
	dir := s.repoDir("example.com/a")
	for _, n := range []string{".pin.json.partial-123", ".2.root.json.partial-9", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Set("example.com/a", nil, root(2, "k2"), SourceSigned, "", now); err != nil {
		t.Fatal(err)
	}
	if left := partials(t, s); len(left) != 0 {
		t.Fatalf("temporaries left: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Fatal(err)
	}
}

// snapshot is every path under dir with its mode and content.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := d.Info()
		c := ""
		if d.Type().IsRegular() {
			data, _ := os.ReadFile(p)
			c = string(data)
		}
		fmt.Fprintf(&b, "%s %v %q\n", p, fi.Mode(), c)
		return nil
	})
	return b.String()
}

func BenchmarkSetBatch1000(b *testing.B) {
	for range b.N {
		s := Open(filepath.Join(b.TempDir(), "trust"))
		ups := make([]Update, 1000)
		for i := range ups {
			ups[i] = Update{GUN: fmt.Sprintf("example.com/app%04d", i), Root: root(1, "k"), Source: SourceSigned}
		}
		if _, err := s.SetBatch(ups, time.Now()); err != nil {
			b.Fatal(err)
		}
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
