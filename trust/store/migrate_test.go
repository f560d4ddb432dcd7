package store

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeFormat1 writes a store as keyrite's format-1 writer left it: a
// directory per GUN with its roots and pin.json.
func writeFormat1(t *testing.T, dir string, pins map[string][][]byte, pinned map[string]int) {
	t.Helper()
	for gun, roots := range pins {
		d := filepath.Join(dir, "repos", hex.EncodeToString([]byte(gun)))
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		for i, r := range roots {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("%d.root.json", i+1)), r, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if pinned[gun] == 0 {
			continue // a killed writer's roots, never pinned
		}
		_, ids, _ := rootInfo(roots[pinned[gun]-1])
		b, _ := json.MarshalIndent(Pin{GUN: gun, Version: pinned[gun], Source: SourceImported, Detail: "format 1",
			PinnedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), RootKeyIDs: ids}, "", "  ")
		if err := os.WriteFile(filepath.Join(d, "pin.json"), append(b, '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// A format-1 store is read as it is; its first write commits every pin
// and root it holds, with the batch, as format 2, and keeps the format-1
// files in repos.format1; reads answer the same before and after.
func TestFormat1IsReadThenMigrated(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "trust"))
	roots := map[string][][]byte{
		"example.com/a":      {bigRoot(1, "a1", 2048), bigRoot(2, "a2", 2048), bigRoot(3, "a3", 2048)},
		"registry:5000/x/b":  {bigRoot(1, "b1", 2048)},
		"example.com/unpinn": {bigRoot(1, "u1", 2048)},
	}
	writeFormat1(t, s.Dir, roots, map[string]int{"example.com/a": 2, "registry:5000/x/b": 1})
	a := filepath.Join(s.Dir, "repos", hex.EncodeToString([]byte("example.com/a")))
	for _, n := range []string{".pin.json.partial-12", ".4.root.json.partial-3"} {
		os.WriteFile(filepath.Join(a, n), []byte("{"), 0o600)
	}
	type view struct {
		List    []Pin
		Pinned  [][]byte
		History [][]byte
		Root3   []byte
		Unpin   *Pin
	}
	read := func() view {
		t.Helper()
		var v view
		var err error
		if v.List, err = Open(s.Dir).List(); err != nil {
			t.Fatal(err)
		}
		for _, g := range []string{"example.com/a", "registry:5000/x/b"} {
			_, r, err := s.Pinned(g)
			if err != nil {
				t.Fatal(err)
			}
			v.Pinned = append(v.Pinned, r)
		}
		if v.History, err = s.History("example.com/a"); err != nil {
			t.Fatal(err)
		}
		if v.Root3, err = s.Root("example.com/a", 3); err != nil {
			t.Fatal(err)
		}
		if v.Unpin, err = s.Pin("example.com/unpinn"); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := read()
	if len(before.List) != 2 || before.List[0].Version != 2 || fmt.Sprint(before.List[0].Versions) != "[1 2 3]" ||
		string(before.Pinned[0]) != string(roots["example.com/a"][1]) || len(before.History) != 3 || before.Unpin != nil {
		t.Fatalf("format 1 read: %+v", before.List)
	}
	if _, err := os.Stat(s.statePath()); !os.IsNotExist(err) {
		t.Fatalf("a read wrote: %v", err)
	}
	// The first write: a new GUN.
	if _, err := s.Set("example.com/new", nil, root(1, "n"), SourceSigned, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	after := read()
	if len(after.List) != 3 || after.List[1].GUN != "example.com/new" {
		t.Fatalf("after: %+v", after.List)
	}
	after.List = append(after.List[:1], after.List[2:]...)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("the migration changed what is read:\nbefore %+v\nafter  %+v", before, after)
	}
	// One pack, the state, the format-1 files kept aside (the partials
	// removed), and the guard where repos/ was.
	if got := packs(t, s); fmt.Sprint(got) != "[00000001.pack]" {
		t.Fatalf("packs %v", got)
	}
	kept := filepath.Join(s.Dir, "repos.format1", hex.EncodeToString([]byte("example.com/a")))
	if b, err := os.ReadFile(filepath.Join(kept, "2.root.json")); err != nil || string(b) != string(roots["example.com/a"][1]) {
		t.Fatalf("repos.format1: %v", err)
	}
	if _, err := os.Stat(filepath.Join(kept, ".pin.json.partial-12")); !os.IsNotExist(err) {
		t.Fatalf("a format-1 temporary is left: %v", err)
	}
	if g, err := os.ReadFile(filepath.Join(s.Dir, "repos")); err != nil || !strings.Contains(string(g), "format 2") {
		t.Fatalf("no guard: %v", err)
	}
	// A format-1 writer fails on the guard rather than seeing no pins.
	if err := os.MkdirAll(filepath.Join(s.Dir, "repos", "x"), 0o700); err == nil {
		t.Fatal("a format-1 writer could make its directories")
	}
}

// A forget is a write too: it migrates the store.
func TestFormat1ForgetMigrates(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "trust"))
	writeFormat1(t, s.Dir, map[string][][]byte{"example.com/a": {root(1, "a1"), root(2, "a2")}, "example.com/b": {root(1, "b1")}},
		map[string]int{"example.com/a": 2, "example.com/b": 1})
	if p, err := s.Forget("example.com/a", 1, time.Now()); err != nil || p.Version != 1 || fmt.Sprint(p.Versions) != "[1]" {
		t.Fatalf("forget: %+v %v", p, err)
	}
	if _, err := os.Stat(s.statePath()); err != nil {
		t.Fatal(err)
	}
	if _, r, err := Open(s.Dir).Pinned("example.com/b"); err != nil || string(r) != string(root(1, "b1")) {
		t.Fatalf("b: %v", err)
	}
}

// A migration killed after its state.json is in place (repos/ not yet
// moved) is finished by the next write; state.json is the truth
// meanwhile.
func TestFormat1MigrationFinishedByNextWrite(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "trust"))
	writeFormat1(t, s.Dir, map[string][][]byte{"example.com/a": {root(1, "a1")}}, map[string]int{"example.com/a": 1})
	if _, err := s.Set("example.com/b", nil, root(1, "b1"), SourceSigned, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	// Undo the move, as if killed before it.
	os.Remove(filepath.Join(s.Dir, "repos"))
	os.Rename(filepath.Join(s.Dir, "repos.format1"), filepath.Join(s.Dir, "repos"))
	os.RemoveAll(filepath.Join(s.Dir, "repos", hex.EncodeToString([]byte("example.com/a"))))
	if p, err := Open(s.Dir).Pin("example.com/a"); err != nil || p == nil {
		t.Fatalf("state.json is not the truth: %+v %v", p, err)
	}
	if _, err := s.Set("example.com/c", nil, root(1, "c1"), SourceSigned, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(s.Dir, "repos")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("repos: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(s.Dir, "repos.format1")); err != nil || !fi.IsDir() {
		t.Fatalf("repos.format1: %v", err)
	}
}
