// Package fsutil writes files and directories so that a reader sees either
// nothing or the whole thing, and never replaces what already exists unless
// asked to.
package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrExists matches (with errors.Is) an output that already exists: see
// ExistsError.
var ErrExists = fs.ErrExist

// WriteFile writes data to path through a temporary file in the same
// directory, fsyncs it, and renames it into place. With replace false an
// existing path is never overwritten (the rename itself refuses, so there
// is no window for a race: an existing path is an *ExistsError). perm
// 0600 is used for secrets.
func WriteFile(path string, data []byte, perm os.FileMode, replace bool) error {
	st, err := StageFile(path, data, perm, replace)
	if err != nil {
		return err
	}
	return st.Commit()
}

// StageFile is WriteFile up to the rename: the file is written and synced
// under a temporary name; Commit renames it into place.
func StageFile(path string, data []byte, perm os.FileMode, replace bool) (*Staged, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-")
	if err != nil {
		return nil, err
	}
	st := &Staged{tmp: tmp.Name(), dest: path, replace: replace, lock: tmp}
	lockPartial(tmp)
	err = tmp.Chmod(perm)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if err != nil {
		st.Abort()
		return nil, err
	}
	return st, nil
}

// RenameNoReplace renames old to new, failing with fs.ErrExist if new
// exists. It works for files and directories.
func RenameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
		return &fs.PathError{Op: "create", Path: newpath, Err: fs.ErrExist}
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// Filesystems without RENAME_NOREPLACE: check, then rename.
		if _, serr := os.Lstat(newpath); serr == nil {
			return &fs.PathError{Op: "create", Path: newpath, Err: fs.ErrExist}
		}
		return os.Rename(oldpath, newpath)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// SyncDir fsyncs a directory so a rename in it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
