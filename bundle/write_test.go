package bundle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
