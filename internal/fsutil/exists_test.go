package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestExistsError(t *testing.T) {
	err := fmt.Errorf("writing the backup: %w", &ExistsError{Path: "out", What: "backup"})
	if got := err.Error(); got != "writing the backup: output out already exists" {
		t.Errorf("message: %q", got)
	}
	for _, target := range []error{fs.ErrExist, ErrExists, os.ErrExist} {
		if !errors.Is(err, target) {
			t.Errorf("errors.Is(err, %v) = false", target)
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		t.Error("errors.Is(err, fs.ErrNotExist) = true")
	}
	var ee *ExistsError
	if !errors.As(err, &ee) || ee.Path != "out" || ee.What != "backup" {
		t.Errorf("errors.As: %+v", ee)
	}
}

func TestRefuseExisting(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, file, dangling} {
		err := RefuseExisting(p, "record")
		var ee *ExistsError
		if !errors.As(err, &ee) || ee.Path != p || ee.What != "record" || !errors.Is(err, fs.ErrExist) {
			t.Errorf("%s: %v, want an ExistsError", p, err)
		}
	}
	if err := RefuseExisting(filepath.Join(dir, "new"), "record"); err != nil {
		t.Errorf("absent: %v", err)
	}
	if err := RefuseExisting(filepath.Join(dir, "no", "parent"), "record"); err != nil {
		t.Errorf("absent parent: %v", err)
	}
	// A path that cannot be checked is an error, not an output that exists.
	err := RefuseExisting(filepath.Join(file, "sub"), "record")
	var ee *ExistsError
	if err == nil || errors.As(err, &ee) {
		t.Errorf("path under a file: %v", err)
	}
}

func TestWriteFileRefusesExisting(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out.pdf")
	if err := WriteFile(p, []byte("one"), 0o600, false); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(p, []byte("two"), 0o600, false)
	var ee *ExistsError
	if !errors.As(err, &ee) || ee.Path != p || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Errorf("overwritten: %q", b)
	}
	if entries, _ := os.ReadDir(filepath.Dir(p)); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	if err := WriteFile(p, []byte("three"), 0o600, true); err != nil {
		t.Fatalf("replace: %v", err)
	}
}
