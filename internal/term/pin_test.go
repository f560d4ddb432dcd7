package term

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/keyrite/keyrite/internal/fsutil"
)

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct{ content, want string }{
		{"123456", "123456"}, {"123456\n", "123456"}, {"123456\r\nignored\n", "123456"}, {"pass phrase with spaces\n", "pass phrase with spaces"},
	} {
		got, err := ReadSecretFile(write("pin", c.content, 0o600))
		if err != nil || string(got) != c.want {
			t.Errorf("%q: got %q, %v", c.content, got, err)
		}
		os.Remove(filepath.Join(dir, "pin"))
	}
	if _, err := ReadSecretFile(write("empty", "\n", 0o600)); !errors.Is(err, ErrEmptySecret) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: %v", err)
	}
	if _, err := ReadSecretFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// A secret file others may read or write is refused, not used with a
// warning; so is anything but a regular file, and a file too large to be
// a PIN or passphrase.
func TestReadSecretFileRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606, 0o622} {
		p := filepath.Join(dir, "open"+mode.String())
		os.WriteFile(p, []byte("1234\n"), 0o600)
		os.Chmod(p, mode)
		v, err := ReadSecretFile(p)
		var pe *fsutil.PermissionError
		if v != nil || !errors.As(err, &pe) || pe.Path != p || pe.Mode != mode {
			t.Errorf("mode %04o: %q, %v", mode, v, err)
		}
	}
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	var nr *fsutil.NotRegularError
	if _, err := ReadSecretFile(fifo); !errors.As(err, &nr) {
		t.Errorf("FIFO: %v", err)
	}
	if _, err := ReadSecretFile("/dev/zero"); !errors.As(err, &nr) {
		t.Errorf("device: %v", err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, nil, 0o600)
	os.Truncate(big, 8<<30)
	var tl *fsutil.TooLargeError
	if _, err := ReadSecretFile(big); !errors.As(err, &tl) {
		t.Errorf("8 GiB file: %v", err)
	}
}

// One PIN entry per device for a whole batch, and Wipe forgets it.
func TestPINSourceAsksOncePerDevice(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(p, []byte("1111\n"), 0o600)
	src := &PINSource{File: p}
	ctx := context.Background()
	a, _ := src.PIN(ctx, Request{Device: "token A", Kind: "PIN"})
	os.WriteFile(p, []byte("2222\n"), 0o600)
	again, _ := src.PIN(ctx, Request{Device: "token A", Kind: "PIN"})
	other, _ := src.PIN(ctx, Request{Device: "token B", Kind: "PIN"})
	if string(a) != "1111" || string(again) != "1111" || string(other) != "2222" {
		t.Fatalf("got %q %q %q: want the first answer reused for the same device only", a, again, other)
	}
	wipe(again) // a caller wiping its copy must not wipe the cache
	if v, _ := src.PIN(ctx, Request{Device: "token A", Kind: "PIN"}); string(v) != "1111" {
		t.Errorf("cache damaged by a caller's wipe: %q", v)
	}
	src.Wipe()
	if v, _ := src.PIN(ctx, Request{Device: "token A", Kind: "PIN"}); string(v) != "2222" {
		t.Errorf("after Wipe the old PIN is still cached: %q", v)
	}
}
