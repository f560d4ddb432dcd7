package bundle

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/internal/fsutil"
)

// WriteExactly's proof that the disk holds what was verified fails for a
// file changed after it was written (same length, other bytes) and for a
// manifest other than the one built, and a bundle that differs is removed.
func TestWriteExactlyProvesTheBytesWritten(t *testing.T) {
	files := Files{"a.json": []byte(`{"a":1}`), "d/b.json": []byte(`{"b":2}`)}
	dir := filepath.Join(t.TempDir(), "b")
	if err := WriteExactly(dir, KindSigned, files); err != nil {
		t.Fatal(err)
	}
	man, err := BuildManifest(KindSigned, files)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkWritten(dir, KindSigned, man); err != nil {
		t.Fatalf("the bundle as written: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "d/b.json"), []byte(`{"b":3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkWritten(dir, KindSigned, man); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("a file changed after writing: %v", err)
	}
	other, _ := BuildManifest(KindSigned, Files{"a.json": []byte(`{"a":1}`)})
	dir2 := filepath.Join(t.TempDir(), "b")
	if err := Write(dir2, KindSigned, files); err != nil {
		t.Fatal(err)
	}
	if err := checkWritten(dir2, KindSigned, other); err == nil {
		t.Error("a bundle compared with another manifest passed")
	}
}

// A staged bundle is not in place until it is committed, Abort leaves
// nothing, and a bundle that appears at its place meanwhile is neither
// replaced nor merged into: Commit is an ExistsError and removes the
// staged copy. For a directory and for a tar file.
func TestStageCommitsWholeOrNothing(t *testing.T) {
	files := Files{"a.json": []byte(`{"a":1}`), "d/b.json": []byte(`{"b":2}`)}
	for _, name := range []string{"b", "b.tar"} {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			dest := filepath.Join(parent, name)
			st, err := Stage(dest, KindSigned, files)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(dest); !os.IsNotExist(err) {
				t.Fatalf("in place before Commit: %v", err)
			}
			st.Abort()
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Fatalf("left after Abort: %v", ents)
			}
			if st, err = Stage(dest, KindSigned, files); err != nil {
				t.Fatal(err)
			}
			if err := Write(dest, KindSigned, Files{"other.json": []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
			var exists *fsutil.ExistsError
			if err := st.Commit(); !errors.As(err, &exists) {
				t.Fatalf("Commit over a bundle written meanwhile: %v", err)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 1 {
				t.Fatalf("beside the bundle written meanwhile: %v", ents)
			}
			if got, err := Read(dest, KindSigned); err != nil || got["other.json"] == nil || got["a.json"] != nil {
				t.Fatalf("the bundle written meanwhile was changed: %v %v", got, err)
			}
			os.RemoveAll(dest)
			if st, err = Stage(dest, KindSigned, files); err != nil {
				t.Fatal(err)
			}
			if err := st.Commit(); err != nil {
				t.Fatal(err)
			}
			if got, err := Read(dest, KindSigned); err != nil || string(got["d/b.json"]) != `{"b":2}` {
				t.Fatalf("committed: %v %v", got, err)
			}
		})
	}
}
