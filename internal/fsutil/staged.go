package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Staged is an output written whole and synced beside its place, not yet
// visible: Commit renames it into place, Abort removes it. Staging lets a
// caller write an output while it still checks what the output holds, and
// make it visible only if the check passes. The temporary stays locked
// (RemoveStalePartials leaves it alone) until one of them is called.
type Staged struct {
	tmp, dest string
	replace   bool
	lock      *os.File
}

// Commit renames the staged output into place and makes the rename
// durable. Without replace, an existing dest is never overwritten: it is
// an *ExistsError and the staged output is removed. After a failed rename
// nothing of the output is left.
func (s *Staged) Commit() error {
	var err error
	if s.replace {
		err = os.Rename(s.tmp, s.dest)
	} else {
		err = RenameNoReplace(s.tmp, s.dest)
	}
	if err != nil {
		s.Abort()
		if errors.Is(err, fs.ErrExist) {
			return &ExistsError{Path: s.dest}
		}
		return err
	}
	s.lock.Close()
	return SyncDir(filepath.Dir(s.dest))
}

// Abort removes the staged output.
func (s *Staged) Abort() {
	s.lock.Close()
	os.RemoveAll(s.tmp)
}

// Temp is where the staged output is until it is committed.
func (s *Staged) Temp() string { return s.tmp }

// Dest is where Commit puts it.
func (s *Staged) Dest() string { return s.dest }
