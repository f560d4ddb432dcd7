package journal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var dev = Object{Device: "pkcs11:token=ceremony;serial=1a2b", Serial: "1a2b"}

func obj(label string) Object {
	o := dev
	o.Label = label
	o.Purpose = "targets key of " + label
	return o
}

func TestReplayAndScan(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "journal")
	j, err := Create(dir, Header{Command: "init", Args: []string{"init", "a", "b", "c"}, Out: "/abs/signed"})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("journal dir: %v %v", fi, err)
	}
	a, b, c := obj("a"), obj("b"), obj("c")
	for _, o := range []Object{a, b, c} {
		if err := j.Intent(o); err != nil {
			t.Fatal(err)
		}
	}
	a.URI, a.KeyID = "pkcs11:token=ceremony;object=a;id=%01", "aa"
	b.URI, b.KeyID = "pkcs11:token=ceremony;object=b;id=%02", "bb"
	j.Created(a)
	j.Created(b)
	j.Removed(b)
	if got := j.Objects(); len(got) != 2 || got[0].Label != "a" || !got[0].Created || got[1].Label != "c" || got[1].Created {
		t.Fatalf("live objects: %+v", got)
	}

	// While the run lives, its journal is busy for everyone else.
	found, busy, err := Scan(dir)
	if err != nil || len(found) != 0 || len(busy) != 1 {
		t.Fatalf("scan of a live journal: %v %v %v", found, busy, err)
	}
	j.Close()

	found, busy, err = Scan(dir)
	if err != nil || len(found) != 1 || len(busy) != 0 {
		t.Fatalf("scan: %v %v %v", found, busy, err)
	}
	g := found[0]
	if g.Header.Command != "init" || g.Header.Out != "/abs/signed" || len(g.Header.Args) != 4 || g.Header.PID != os.Getpid() {
		t.Errorf("header: %+v", g.Header)
	}
	objs := g.Objects()
	if len(objs) != 2 || objs[0].URI != a.URI || objs[0].KeyID != "aa" || objs[0].Purpose != "targets key of a" || objs[1].Label != "c" {
		t.Fatalf("replayed: %+v", objs)
	}
	// A later run releases what it dealt with; the file then answers for
	// nothing and the next scan deletes it.
	g.Released(objs[0], "reused")
	g.Removed(objs[1])
	g.Close()
	found, _, err = Scan(dir)
	if err != nil || len(found) != 0 {
		t.Fatalf("scan after release: %v %v", found, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left: %v", entries)
	}
}

func TestTornLastLine(t *testing.T) {
	dir := t.TempDir()
	j, err := Create(dir, Header{Command: "key generate"})
	if err != nil {
		t.Fatal(err)
	}
	j.Intent(obj("root"))
	j.Close()
	// A crash in the middle of the next record's write: the record never
	// reached the disk whole, so the call it announced was never made.
	f, _ := os.OpenFile(j.Path(), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"op":"removed","device":"pkcs11:token=ceremony;serial=1a2b","lab`)
	f.Close()
	found, _, err := Scan(dir)
	if err != nil || len(found) != 1 || len(found[0].Objects()) != 1 {
		t.Fatalf("torn: %v %v", found, err)
	}
	found[0].Close()

	// A broken line in the middle is not a crash: it is refused.
	b, _ := os.ReadFile(j.Path())
	lines := strings.SplitAfter(string(b), "\n")
	os.WriteFile(j.Path(), []byte(lines[0]+"garbage\n"+lines[1]), 0o600)
	_, _, err = Scan(dir)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Line != 2 {
		t.Fatalf("corrupt: %v", err)
	}
}

func TestKilledBeforeBegin(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "20260101T000000Z-1-00000000.jsonl"), nil, 0o600)
	os.WriteFile(filepath.Join(dir, "20260101T000000Z-2-00000000.jsonl"), []byte(`{"op":"begin","form`), 0o600)
	os.WriteFile(filepath.Join(dir, "README"), []byte("not a journal"), 0o600)
	found, busy, err := Scan(dir)
	if err != nil || len(found) != 0 || len(busy) != 0 {
		t.Fatalf("%v %v %v", found, busy, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "README" {
		t.Errorf("left: %v", entries)
	}
}

func TestSameDevice(t *testing.T) {
	o := Object{Device: "softkey:file=r.softkey", Serial: ""}
	if !o.SameDevice("softkey:file=r.softkey", "abc") {
		t.Error("a serial only one side knows must not count against it")
	}
	o.Serial = "abc"
	if o.SameDevice("softkey:file=r.softkey", "def") || o.SameDevice("softkey:file=other", "abc") {
		t.Error("another device matched")
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/state")
	if d, _ := DefaultDir(); d != "/state/keyrite/journal" {
		t.Errorf("XDG: %s", d)
	}
	t.Setenv("XDG_STATE_HOME", "relative")
	t.Setenv("HOME", "/home/op")
	if d, _ := DefaultDir(); d != "/home/op/.local/state/keyrite/journal" {
		t.Errorf("HOME: %s", d)
	}
	t.Setenv("HOME", "")
	if _, err := DefaultDir(); err == nil {
		t.Error("no HOME: no error")
	}
}

// BenchmarkRecord is the cost of one journal record (a line written and
// fsynced): init pays two per targets key it makes.
func BenchmarkRecord(b *testing.B) {
	j, err := Create(b.TempDir(), Header{Command: "init"})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	o := obj("targets:example.com/bench")
	for b.Loop() {
		if err := j.Intent(o); err != nil {
			b.Fatal(err)
		}
	}
}
