package term

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseSecret: the secret is the file's first line without its line
// ending, never empty, never holding a newline, a copy the caller may
// wipe; ReadSecretFile of a 0600 file with the same bytes agrees.
func FuzzParseSecret(f *testing.F) {
	for _, s := range []string{"123456", "123456\n", "pass phrase\r\nsecond line\n", "\n", "\r\n", "", "a\r\r\n", "\x00\xff\n"} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		got, err := ParseSecret(b)
		first, _, _ := bytes.Cut(in, []byte("\n"))
		want := bytes.TrimSuffix(first, []byte("\r"))
		switch {
		case len(want) == 0:
			if !errors.Is(err, ErrEmptySecret) {
				t.Fatalf("%q: %q, %v, want ErrEmptySecret", in, got, err)
			}
		case err != nil || !bytes.Equal(got, want) || bytes.ContainsRune(got, '\n'):
			t.Fatalf("%q: %q, %v, want %q", in, got, err, want)
		}
		if len(got) > 0 {
			got[0] ^= 0xff // wiping the result leaves the input alone
			if !bytes.Equal(b, in) {
				t.Fatal("the result shares memory with the input")
			}
		}
		if len(in) <= MaxSecretFileSize {
			p := filepath.Join(dir, "secret")
			os.Remove(p)
			if err := os.WriteFile(p, in, 0o600); err != nil {
				t.Fatal(err)
			}
			fromFile, ferr := ReadSecretFile(p)
			if (ferr == nil) != (len(want) > 0) || !bytes.Equal(fromFile, want) {
				t.Fatalf("%q: ReadSecretFile %q, %v; ParseSecret %q", in, fromFile, ferr, want)
			}
		}
	})
}
