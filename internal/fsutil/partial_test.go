package fsutil

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRemoveStalePartials(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "signed")
	mk := func(name string, isDir bool) string {
		p := filepath.Join(dir, name)
		if isDir {
			os.MkdirAll(filepath.Join(p, "repos"), 0o755)
			os.WriteFile(filepath.Join(p, "repos", "f"), []byte("x"), 0o644)
		} else {
			os.WriteFile(p, []byte("x"), 0o600)
		}
		return p
	}
	stale := mk(".signed.partial-123456", true)
	staleFile := mk(".signed.partial-42", false)
	keep := []string{
		mk(".signed.partial-abc", true),    // not keyrite's random part
		mk(".signed2.partial-1", true),     // another output's
		mk("signed.partial-1", true),       // not hidden
		mk(".signed.partial-1.bak", false), // not the pattern
		mk(".other.partial-99", false),     // another output's
	}
	// One being written by a live process: locked, left alone.
	live := mk(".signed.partial-777", true)
	f, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	// A symbolic link with the name is not followed, nor removed.
	target := mk("elsewhere", true)
	os.Symlink(target, filepath.Join(dir, ".signed.partial-5"))

	removed, err := RemoveStalePartials(out)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if want := []string{stale, staleFile}; !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	for _, p := range append(keep, live, target, filepath.Join(target, "repos", "f")) {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := os.Lstat(stale); !os.IsNotExist(err) {
		t.Errorf("stale left: %v", err)
	}
	// A directory that does not exist has nothing to clean.
	if r, err := RemoveStalePartials(filepath.Join(dir, "no", "out")); err != nil || len(r) != 0 {
		t.Errorf("%v %v", r, err)
	}
}
