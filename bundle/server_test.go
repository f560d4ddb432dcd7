package bundle

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestCAFileError(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, c := range []struct {
		file, want string
		notExist   bool
	}{
		{notPEM, "CA certificate file " + notPEM + " holds no PEM certificate", false},
		{missing, "reading the CA certificate file: open " + missing + ": no such file or directory", true},
	} {
		_, err := Server{URL: "https://notary.example", CAFile: c.file}.client(AccessPull)
		var ce *CAFileError
		if !errors.As(err, &ce) || ce.File != c.file || err.Error() != c.want {
			t.Errorf("%s: %v, want a CAFileError %q", c.file, err, c.want)
		}
		if errors.Is(err, fs.ErrNotExist) != c.notExist {
			t.Errorf("%s: errors.Is(err, fs.ErrNotExist) = %v", c.file, !c.notExist)
		}
	}
}
