package fsutil

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// CreateWrite creates path, which must not exist (O_EXCL: never through
// a symbolic link or over a file), with mode, and writes data, without
// syncing. It goes through the system calls alone: os.OpenFile adds five
// to every file (four fcntl and an epoll_ctl, the runtime's poller
// probing it), and a bundle or a trust store batch of 1,000 GUNs writes
// thousands of files. On failure the file is removed.
func CreateWrite(path string, data []byte, mode os.FileMode) error {
	fd, err := ignoringEINTR(func() (int, error) {
		return unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, uint32(mode.Perm()))
	})
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	for len(data) > 0 && err == nil {
		var n int
		if n, err = ignoringEINTR(func() (int, error) { return unix.Write(fd, data) }); err == nil {
			data = data[n:]
		}
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		unix.Unlink(path)
		return &fs.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}

// WriteTemp writes data (0600) to a new temporary beside final, named as
// WriteFile names its own (.BASE.partial-N), and returns its path. The
// caller renames it into place once it is synced, or removes it.
func WriteTemp(final string, data []byte) (string, error) {
	dir, base := filepath.Dir(final), filepath.Base(final)
	for {
		p := filepath.Join(dir, "."+base+".partial-"+strconv.FormatUint(uint64(rand.Uint32()), 10))
		err := CreateWrite(p, data, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			return p, err
		}
	}
}

func ignoringEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if !errors.Is(err, unix.EINTR) {
			return n, err
		}
	}
}

// OpenDir opens a directory to list it, never through a symbolic link,
// with openat and one fcntl (os.NewFile's): os.OpenFile adds four fcntl
// and an epoll_ctl to each, and reading a bundle of 1,000 GUNs opens
// thousands of directories.
func OpenDir(path string) (*os.File, error) {
	fd, err := ignoringEINTR(func() (int, error) {
		return unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}
