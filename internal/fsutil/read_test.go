package fsutil

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestReadRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("content"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	fifoLink := filepath.Join(dir, "fifolink")
	if err := os.Symlink(fifo, fifoLink); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, kind string
		o          ReadOptions
	}{
		{fifo, "a named pipe (FIFO)", ReadOptions{Max: 10}},
		{fifoLink, "a named pipe (FIFO)", ReadOptions{Max: 10}}, // followed, then refused: still no block
		{sock, "a socket", ReadOptions{Max: 10}},
		{"/dev/zero", "a character device", ReadOptions{Max: 10}},
		{dir, "a directory", ReadOptions{Max: 10}},
		{link, "a symbolic link", ReadOptions{Max: 10, NoSymlink: true}},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := Read(c.path, c.o)
			done <- err
		}()
		select {
		case err := <-done:
			var nr *NotRegularError
			if !errors.As(err, &nr) || nr.Path != c.path || !strings.Contains(err.Error(), c.kind) {
				t.Errorf("%s: %v, want a NotRegularError saying %q", c.path, err, c.kind)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Read blocked", c.path)
		}
	}
	// A link to a regular file is followed when links are allowed.
	if b, err := ReadRegular(link, 10); err != nil || string(b) != "content" {
		t.Errorf("link followed: %q, %v", b, err)
	}
}

func TestReadRefusesLargeFilesBeforeReading(t *testing.T) {
	dir := t.TempDir()
	sparse := filepath.Join(dir, "sparse")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	// 8 GiB that take no disk: reading them would take 8 GiB of memory.
	if err := f.Truncate(8 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	start := time.Now()
	_, err = Read(sparse, ReadOptions{Max: 1 << 20, What: "share"})
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Size != 8<<30 || tl.Max != 1<<20 {
		t.Fatalf("sparse file: %v", err)
	}
	if want := "share " + sparse + " is 8589934592 bytes, more than the 1048576 bytes it may hold"; err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusing took %v: was the file read?", d)
	}

	exact := filepath.Join(dir, "exact")
	if err := os.WriteFile(exact, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadRegular(exact, 5); err != nil || string(b) != "12345" {
		t.Errorf("file at the limit: %q, %v", b, err)
	}
	if _, err := ReadRegular(exact, 4); !errors.As(err, &tl) {
		t.Errorf("one byte over: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadRegular(empty, 5); err != nil || len(b) != 0 {
		t.Errorf("empty file: %q, %v", b, err)
	}
	if _, err := ReadRegular(exact, 0); err == nil {
		t.Error("no limit accepted")
	}
	if _, err := ReadRegular(filepath.Join(dir, "missing"), 5); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

// A file that grows between fstat and the read (or whose stat size lies,
// as /proc files' do) is still cut at the limit.
func TestReadStopsAtTheLimitWhateverStatSays(t *testing.T) {
	// keyrite runs on Linux, where /proc is always there: a missing one
	// is a broken test machine, not a reason to skip.
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Fatal(err)
	}
	// /proc/self/status says 0 bytes and holds more than 100.
	_, err := ReadRegular("/proc/self/status", 100)
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Size != 101 {
		t.Errorf("proc file: %v", err)
	}
	b, err := ReadRegular("/proc/self/status", 1<<20)
	if err != nil || !strings.Contains(string(b), "Name:") {
		t.Errorf("proc file within the limit: %v", err)
	}
}

func TestReadPrivate(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range []os.FileMode{0o600, 0o400} {
		p := filepath.Join(dir, mode.String())
		if err := os.WriteFile(p, []byte("1234\n"), mode); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadPrivate(p, "PIN file", 100); err != nil {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o620, 0o602, 0o644, 0o666} {
		p := filepath.Join(dir, "loose"+mode.String())
		if err := os.WriteFile(p, []byte("1234\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		_, err := ReadPrivate(p, "PIN file", 100)
		var pe *PermissionError
		if !errors.As(err, &pe) || pe.Path != p || pe.Mode != mode {
			t.Errorf("mode %04o: %v, want a PermissionError", mode, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "PIN file "+p+" has mode ") {
			t.Errorf("message: %q", err)
		}
	}
}

// Open makes Read's checks and leaves the file open for a partial read
// (the trust store reads one root of a pack).
func TestOpenChecksThenReadsPart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pack")
	if err := os.WriteFile(file, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	o := ReadOptions{Max: 10, NoSymlink: true, Private: true, What: "pack"}
	f, err := Open(file, o)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 3)
	if _, err := f.ReadAt(b, 4); err != nil || string(b) != "456" {
		t.Fatalf("ReadAt: %q %v", b, err)
	}
	var nr *NotRegularError
	if _, err := Open(link, o); !errors.As(err, &nr) {
		t.Fatalf("a link: %v", err)
	}
	var tl *TooLargeError
	if _, err := Open(file, ReadOptions{Max: 9}); !errors.As(err, &tl) {
		t.Fatalf("too large: %v", err)
	}
	os.Chmod(file, 0o640)
	var pe *PermissionError
	if _, err := Open(file, o); !errors.As(err, &pe) {
		t.Fatalf("not private: %v", err)
	}
}
