package fsutil

import (
	"io/fs"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fdInfo is fstat(2) of an open descriptor as an fs.FileInfo, for Read,
// which opens a bundle's thousands of files through the system calls
// alone (os.OpenFile adds four fcntl and an epoll_ctl to each).
type fdInfo struct {
	name string
	st   unix.Stat_t
}

func (i *fdInfo) Name() string       { return i.name }
func (i *fdInfo) Size() int64        { return i.st.Size }
func (i *fdInfo) ModTime() time.Time { return time.Unix(i.st.Mtim.Unix()) }
func (i *fdInfo) IsDir() bool        { return i.Mode().IsDir() }
func (i *fdInfo) Sys() any           { return &i.st }

// Mode converts st_mode as os does.
func (i *fdInfo) Mode() fs.FileMode {
	m := fs.FileMode(i.st.Mode & 0o777)
	switch i.st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if i.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if i.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if i.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// sameFile says whether lst (from os.Lstat) and the descriptor's fstat
// are one file.
func (i *fdInfo) sameFile(lst fs.FileInfo) bool {
	s, ok := lst.Sys().(*syscall.Stat_t)
	return ok && uint64(s.Dev) == uint64(i.st.Dev) && uint64(s.Ino) == uint64(i.st.Ino)
}
