package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestWriteTreeMode(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "backup")
	files := map[string][]byte{"a.share.age": []byte("a"), "sub/b": []byte("b")}
	if err := WriteTreeMode(dest, files, 0o600, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]fs.FileMode{".": 0o700, "sub": 0o700, "a.share.age": 0o600, "sub/b": 0o600} {
		st, err := os.Stat(filepath.Join(dest, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", name, st.Mode().Perm(), want)
		}
	}
	// Never over an existing output, and no partial directory left behind.
	err := WriteTreeMode(dest, files, 0o600, 0o700)
	var ee *ExistsError
	if !errors.Is(err, fs.ErrExist) || !errors.As(err, &ee) || ee.Path != dest {
		t.Fatalf("second write: %v", err)
	}
	if err := WriteTreeMode(filepath.Join(filepath.Dir(dest), "bad"), map[string][]byte{"../x": nil}, 0o600, 0o700); err == nil {
		t.Fatal("escaping path accepted")
	}
	entries, _ := os.ReadDir(filepath.Dir(dest))
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

// A relative destination (the common case: -o signed) is written whole,
// subdirectories and all, several levels deep.
func TestWriteTreeRelative(t *testing.T) {
	t.Chdir(t.TempDir())
	files := map[string][]byte{"a.json": []byte("a"), "repos/x/_trust/root.json": []byte("r"), "repos/y/_trust/root.json": []byte("s")}
	if err := WriteTree("out", files); err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		if got, err := os.ReadFile(filepath.Join("out", name)); err != nil || string(got) != string(want) {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
}

// BenchmarkWriteTreeSigned1000 writes the tree of a signed bundle of 1,000
// GUNs: 4,000 directories and 4,000 small files.
func BenchmarkWriteTreeSigned1000(b *testing.B) {
	files := map[string][]byte{}
	for i := range 1000 {
		gun := fmt.Sprintf("registry.example.com/bench/app%04d", i)
		for _, f := range []string{"repos/" + gun + "/_trust/root.json", "repos/" + gun + "/_trust/targets.json",
			"request/repos/" + gun + "/_trust/snapshot.key", "request/repos/" + gun + "/_trust/timestamp.key"} {
			files[f] = make([]byte, 700)
		}
	}
	dir := b.TempDir()
	for i := 0; b.Loop(); i++ {
		if err := WriteTree(filepath.Join(dir, strconv.Itoa(i)), files); err != nil {
			b.Fatal(err)
		}
	}
}
