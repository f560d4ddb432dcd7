package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// Reading what crosses the air gap: every file keyrite reads that it did
// not just write (a bundle's files, shares, identities, PIN and passphrase
// files, keys given on the command line) is read through Read, which looks
// at what the path is before reading a byte of it. A named pipe would
// block the reader forever, a device or a sparse file of terabytes would
// exhaust memory: each is refused by what stat says, with an error naming
// the file, so no input makes keyrite hang or crash.

// ReadOptions say what a caller accepts.
type ReadOptions struct {
	// Max is the most bytes the file may hold; a larger file is a
	// *TooLargeError before anything is read. It must be positive.
	Max int64
	// NoSymlink refuses a symbolic link in place of the file (a bundle's
	// files); without it a link to a regular file is followed.
	NoSymlink bool
	// Private refuses a file that its group or others may read or write
	// (PIN, passphrase and identity files), as ssh refuses loose private
	// keys: a *PermissionError.
	Private bool
	// What names the file in errors: "share", "PIN file"...; may be empty.
	What string
}

// NotRegularError is a path that is not a regular file where one is
// needed: a named pipe, a device, a socket, a directory, or a symbolic
// link where links are refused.
type NotRegularError struct {
	Path string
	What string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file", describe(e.What, e.Path), TypeName(e.Mode))
}

// Kind says what the path is instead: "a named pipe (FIFO)"...
func (e *NotRegularError) Kind() string { return TypeName(e.Mode) }

// TooLargeError is a file larger than what it may hold.
type TooLargeError struct {
	Path string
	What string
	Size int64 // as stat reports it (a sparse file's apparent size)
	Max  int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is %d bytes, more than the %d bytes it may hold", describe(e.What, e.Path), e.Size, e.Max)
}

// PermissionError is a secret file its group or others may read or write.
type PermissionError struct {
	Path string
	What string
	Mode fs.FileMode // permission bits
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("%s has mode %04o: a secret file must be readable and writable by its owner only", describe(e.What, e.Path), e.Mode.Perm())
}

func describe(what, path string) string {
	if what == "" {
		return path
	}
	return what + " " + path
}

// TypeName says what kind of file a mode is, for messages: "a symbolic
// link", "a named pipe (FIFO)", "a socket", "a directory"...
func TypeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a directory"
	case m.IsRegular():
		return "a regular file"
	}
	return fmt.Sprintf("of type %s", m.Type())
}

// ReadRegular reads a regular file of at most max bytes, following a
// symbolic link to one.
func ReadRegular(path string, max int64) ([]byte, error) {
	return Read(path, ReadOptions{Max: max})
}

// ReadPrivate reads a secret file: regular, at most max bytes, and
// readable and writable by its owner only.
func ReadPrivate(path, what string, max int64) ([]byte, error) {
	return Read(path, ReadOptions{Max: max, Private: true, What: what})
}

// Read reads a file after checking, by lstat before it is opened and by
// fstat once it is, that it is a regular file within the limit (and, as
// asked, no symbolic link and private). The file is opened non-blocking,
// so a named pipe swapped in after the first check does not block; the
// second check refuses it, and anything else that was swapped in, before
// a byte is read. The file cannot grow past the limit while it is read.
func Read(path string, o ReadOptions) ([]byte, error) {
	fd, st, err := open(path, o)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return readAll(fd, path, st, o)
}

// Open opens a file to read after the checks Read makes, for a caller
// that reads part of it (ReadAt) or needs its fstat (Stat: what was
// checked is what is read).
func Open(path string, o ReadOptions) (*os.File, error) {
	fd, _, err := open(path, o)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// open opens path and checks it as Read says, returning the descriptor
// and its fstat.
func open(path string, o ReadOptions) (int, *fdInfo, error) {
	if o.Max <= 0 {
		return -1, nil, fmt.Errorf("reading %s: no size limit given", path)
	}
	lst, err := os.Lstat(path)
	if err != nil {
		// Reported as opening the file, which is what the caller asked.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Op = "open"
		}
		return -1, nil, err
	}
	if lst.Mode()&fs.ModeSymlink != 0 && o.NoSymlink {
		return -1, nil, &NotRegularError{Path: path, What: o.What, Mode: lst.Mode()}
	}
	if lst.Mode()&fs.ModeSymlink == 0 {
		if err := check(path, lst, o); err != nil {
			return -1, nil, err
		}
	}
	flags := unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
	if o.NoSymlink {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := ignoringEINTR(func() (int, error) { return unix.Open(path, flags, 0) })
	if err != nil {
		if errors.Is(err, unix.ELOOP) && o.NoSymlink {
			return -1, nil, &NotRegularError{Path: path, What: o.What, Mode: fs.ModeSymlink}
		}
		return -1, nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	st := &fdInfo{name: lst.Name()}
	if err := unix.Fstat(fd, &st.st); err != nil {
		unix.Close(fd)
		return -1, nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if err := check(path, st, o); err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	if lst.Mode()&fs.ModeSymlink == 0 && !st.sameFile(lst) {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("%s was replaced while it was opened", describe(o.What, path))
	}
	return fd, st, nil
}

// readAll reads an opened file of at most o.Max bytes.
func readAll(fd int, path string, st *fdInfo, o ReadOptions) ([]byte, error) {
	// Read at most one byte more than the limit: a file that grew since
	// fstat is caught without ever holding more than Max+1 bytes.
	b := make([]byte, min(st.Size(), o.Max)+1)
	n := 0
	for {
		if n == len(b) {
			if int64(n) > o.Max {
				break
			}
			// Filled the buffer sized by fstat: the file grew.
			b = append(b, make([]byte, min(int64(len(b)), o.Max+1-int64(n)))...)
		}
		m, err := ignoringEINTR(func() (int, error) { return unix.Read(fd, b[n:]) })
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
	}
	b = b[:n]
	if int64(len(b)) > o.Max {
		return nil, &TooLargeError{Path: path, What: o.What, Size: int64(len(b)), Max: o.Max}
	}
	return b, nil
}

// check refuses what stat shows is not acceptable.
func check(path string, st fs.FileInfo, o ReadOptions) error {
	if !st.Mode().IsRegular() {
		return &NotRegularError{Path: path, What: o.What, Mode: st.Mode()}
	}
	if st.Size() > o.Max {
		return &TooLargeError{Path: path, What: o.What, Size: st.Size(), Max: o.Max}
	}
	if o.Private && st.Mode().Perm()&0o077 != 0 {
		return &PermissionError{Path: path, What: o.What, Mode: st.Mode().Perm()}
	}
	return nil
}
