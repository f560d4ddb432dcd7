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
	// A fresh Store, as the next process: nothing cached.
	s2 := Open(s.Dir)
	for _, u := range ups[:50] {
		p, r, err := s2.Pinned(u.GUN)
		if err != nil || p == nil || p.Version != 1 || string(r) != string(u.Root) || p.Detail != "init" {
			t.Fatalf("%s: %+v %v", u.GUN, p, err)
		}
	}
	p, err := s2.Pin("example.com/old")
	if err != nil || p.Version != 4 || p.Source != SourceSigned || fmt.Sprint(p.Versions) != "[1 2 3 4]" || p.RootKeyIDs[0] != "k3" {
		t.Fatalf("old: %+v %v", p, err)
	}
	// The batch is one pack beside the first Set's: the file count does
	// not grow with the GUNs.
	if got := packs(t, s); fmt.Sprint(got) != "[00000001.pack 00000002.pack]" {
		t.Fatalf("packs: %v", got)
	}
	if left := partials(t, s); len(left) != 0 {
		t.Fatalf("temporaries left: %v", left)
	}
	// Pinning again the bytes held adds none to a pack.
	fi, _ := os.Stat(s.packPath("00000002.pack"))
	if _, err := s.Set("example.com/app00", nil, root(1, "k0"), SourceImported, "again", now); err != nil {
		t.Fatal(err)
	}
	if got := packs(t, s); fmt.Sprint(got) != "[00000001.pack 00000002.pack]" {
		t.Fatalf("packs after pinning held bytes: %v", got)
	}
	if fi2, _ := os.Stat(s.packPath("00000002.pack")); fi2.Size() != fi.Size() || fi2.ModTime() != fi.ModTime() {
		t.Fatal("a pack changed")
	}
}

// A rollback in the middle of a batch is refused before anything is
// written: no GUN of the batch is pinned, no file made, no temporary
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
	// So does a root that does not parse, after good ones, a root larger
	// than the store holds, and an update without a GUN.
	for _, bad := range []Update{
		{GUN: "example.com/b", Root: []byte("{not json"), Source: SourceSigned},
		{GUN: "example.com/b", Root: bigRoot(4, "k", maxRoot+1), Source: SourceSigned},
		{GUN: "", Root: root(4, "k"), Source: SourceSigned},
	} {
		ups[1] = bad
		if _, err := s.SetBatch(ups, now); err == nil {
			t.Fatalf("%.40q was pinned", bad.Root)
		}
		if after := snapshot(t, s.Dir); after != before {
			t.Fatalf("the store changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	}
}

// A commit that fails (here: state.json's place is a directory) leaves no
// temporary, no pack, and the pins as they were.
func TestSetBatchFailureCleansUp(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "trust"))
	now := time.Now()
	if _, err := s.Set("example.com/a", nil, root(1, "k1"), SourceSigned, "", now); err != nil {
		t.Fatal(err)
	}
	blocked := Open(filepath.Join(t.TempDir(), "trust"))
	if err := os.MkdirAll(filepath.Join(blocked.Dir, stateName, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := blocked.SetBatch([]Update{
		{GUN: "example.com/a", Root: root(2, "k2"), Source: SourceSigned},
		{GUN: "example.com/b", Root: root(1, "kb"), Source: SourceSigned},
	}, now)
	if err == nil {
		t.Fatal("the batch succeeded")
	}
	if left := partials(t, blocked); len(left) != 0 {
		t.Fatalf("temporaries left: %v", left)
	}
	if got := packs(t, blocked); len(got) != 0 {
		t.Fatalf("packs left: %v", got)
	}
	if p, err := s.Pin("example.com/a"); err != nil || p.Version != 1 {
		t.Fatalf("a: %+v %v", p, err)
	}
}

// What a killed writer left (a pack state.json does not name, a state
// temporary) is removed by the next write; other files are left alone.
func TestSetBatchRemovesWhatAKilledWriterLeft(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "trust"))
	now := time.Now()
	if _, err := s.Set("example.com/a", nil, root(1, "k1"), SourceSigned, "", now); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{".state.json.partial-123", "packs/00000007.pack", "notes.txt", "packs/notes.txt"} {
		if err := os.WriteFile(filepath.Join(s.Dir, n), []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Readers ignore them.
	if p, r, err := s.Pinned("example.com/a"); err != nil || p.Version != 1 || string(r) != string(root(1, "k1")) {
		t.Fatalf("a: %+v %v", p, err)
	}
	if _, err := s.Set("example.com/a", nil, root(2, "k2"), SourceSigned, "", now); err != nil {
		t.Fatal(err)
	}
	if left := partials(t, s); len(left) != 0 {
		t.Fatalf("temporaries left: %v", left)
	}
	// The orphan's number is not reused.
	if got := packs(t, s); fmt.Sprint(got) != "[00000001.pack 00000008.pack notes.txt]" {
		t.Fatalf("packs: %v", got)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "notes.txt")); err != nil {
		t.Fatal(err)
	}
}

// Roots replaced by new bytes of the same version (a root signed by more
// of its holders) or forgotten are garbage in their packs; once the live
// roots are under half of all pack bytes, a batch writes one pack with
// every live root and drops the others.
func TestCompaction(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "trust"))
	now := time.Now()
	const n, size = 10, 30 << 10
	gun := func(i int) string { return fmt.Sprintf("example.com/g%d", i) }
	sig := make([]string, n) // each GUN's root key in force
	round := func(r, from, to int) {
		t.Helper()
		var ups []Update
		for i := from; i < to; i++ {
			sig[i] = fmt.Sprintf("k%d", r)
			ups = append(ups, Update{GUN: gun(i), Root: bigRoot(1, sig[i], size), Source: SourceSigned})
		}
		if _, err := s.SetBatch(ups, now); err != nil {
			t.Fatal(err)
		}
	}
	check := func(wantPacks string) {
		t.Helper()
		if got := fmt.Sprint(packs(t, s)); got != wantPacks {
			t.Fatalf("packs %s, want %s", got, wantPacks)
		}
		for i := range n {
			if p, root, err := Open(s.Dir).Pinned(gun(i)); err != nil || p.RootKeyIDs[0] != sig[i] || string(root) != string(bigRoot(1, sig[i], size)) {
				t.Fatalf("%s: %+v %v", gun(i), p, err)
			}
		}
	}
	// Sizes in units of a root (30 KiB): 10 live throughout, 300 KiB.
	round(1, 0, 10)
	check("[00000001.pack]")
	round(2, 0, 5) // 10 live of 15
	check("[00000001.pack 00000002.pack]")
	round(3, 0, 5) // pack 2 is named no more, and dropped: 10 of 15
	check("[00000001.pack 00000003.pack]")
	round(4, 5, 8) // 10 of 18: no compaction yet
	check("[00000001.pack 00000003.pack 00000004.pack]")
	round(5, 0, 3) // 10 of 21: one pack with the live roots
	check("[00000005.pack]")
	if fi, err := os.Stat(s.packPath("00000005.pack")); err != nil || fi.Size() != n*int64(len(bigRoot(1, "k3", size))) {
		t.Fatalf("the compacted pack: %v %v", fi.Size(), err)
	}
	// Forgetting most GUNs makes their roots garbage: a forget compacts
	// too, once they are most of the packs (here with 4 GUNs left).
	for i := range n - 2 {
		if _, err := s.Forget(gun(i), 0, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Set("example.com/new", nil, root(1, "kn"), SourceSigned, "", now); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(packs(t, s)); got != "[00000006.pack 00000007.pack]" {
		t.Fatalf("after forgetting: packs %s", got)
	}
	if fi, err := os.Stat(s.packPath("00000006.pack")); err != nil || fi.Size() != 4*int64(len(bigRoot(1, "k3", size))) {
		t.Fatalf("the pack compacted by forget: %v %v", fi.Size(), err)
	}
	if list, err := s.List(); err != nil || len(list) != 3 {
		t.Fatalf("list %+v %v", list, err)
	}
	for _, g := range []string{gun(n - 2), gun(n - 1), "example.com/new"} {
		if _, _, err := Open(s.Dir).Pinned(g); err != nil {
			t.Fatal(err)
		}
	}
	// Batches of one GUN each: the packs are gathered into one once there
	// are more than compactPacks (at the 64th batch, from 2 packs), and the
	// last batch adds one.
	for i := range compactPacks + 1 {
		if _, err := s.Set(fmt.Sprintf("example.com/one%d", i), nil, root(1, "k"), SourceSigned, "", now); err != nil {
			t.Fatal(err)
		}
	}
	if got := packs(t, s); len(got) != 2 {
		t.Fatalf("%d packs after %d batches", len(got), compactPacks+1)
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

// BenchmarkSetBatch1000 pins 1,000 GUNs with roots of about 2 KB (a real
// root.json with its keys' certificates) in one batch: what init of 1,000
// GUNs does last.
func BenchmarkSetBatch1000(b *testing.B) {
	ups := make([]Update, 1000)
	for i := range ups {
		ups[i] = Update{GUN: fmt.Sprintf("example.com/app%04d", i), Root: bigRoot(1, fmt.Sprintf("k%04d", i), 2048), Source: SourceSigned}
	}
	for range b.N {
		s := Open(filepath.Join(b.TempDir(), "trust"))
		if _, err := s.SetBatch(ups, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPinned1000 reads the pin and pinned root of each of 1,000 GUNs
// through one Store, as a session that trusts a request bundle's current
// roots does.
func BenchmarkPinned1000(b *testing.B) {
	s := Open(filepath.Join(b.TempDir(), "trust"))
	ups := make([]Update, 1000)
	for i := range ups {
		ups[i] = Update{GUN: fmt.Sprintf("example.com/app%04d", i), Root: bigRoot(1, fmt.Sprintf("k%04d", i), 2048), Source: SourceSigned}
	}
	if _, err := s.SetBatch(ups, time.Now()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		for _, u := range ups {
			if p, _, err := s.Pinned(u.GUN); err != nil || p == nil {
				b.Fatal(err)
			}
		}
	}
}
