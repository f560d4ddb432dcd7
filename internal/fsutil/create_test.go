package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// CreateWrite never writes through a symbolic link or over a file, and
// WriteTemp's names are those RemoveStalePartials knows.
func TestCreateWriteIsExclusive(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.json")
	if err := CreateWrite(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "one" {
		t.Fatalf("%q %v", b, err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if err := CreateWrite(p, []byte("two"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("over a file: %v", err)
	}
	target := filepath.Join(dir, "target")
	os.Symlink(target, filepath.Join(dir, "link"))
	if err := CreateWrite(filepath.Join(dir, "link"), []byte("x"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("through a symbolic link: %v", err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the link's target was created: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Fatalf("overwritten: %q", b)
	}
	tmp, err := WriteTemp(p, []byte("three"))
	if err != nil || !strings.HasPrefix(filepath.Base(tmp), ".a.json.partial-") {
		t.Fatalf("%s %v", tmp, err)
	}
	removed, err := RemoveStalePartials(p)
	if err != nil || len(removed) != 1 || removed[0] != tmp {
		t.Fatalf("stale partials: %v %v", removed, err)
	}
}

// OpenDir lists a directory, and never one behind a symbolic link.
func TestOpenDir(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	os.WriteFile(filepath.Join(dir, "d", "f"), nil, 0o644)
	os.Symlink("d", filepath.Join(dir, "link"))
	d, err := OpenDir(filepath.Join(dir, "d"))
	if err != nil {
		t.Fatal(err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil || len(names) != 1 || names[0] != "f" {
		t.Fatalf("%v %v", names, err)
	}
	if d, err := OpenDir(filepath.Join(dir, "link")); err == nil {
		d.Close()
		t.Fatal("opened a directory through a symbolic link")
	}
	if _, err := OpenDir(filepath.Join(dir, "d", "f")); err == nil {
		t.Fatal("opened a file as a directory")
	}
}
