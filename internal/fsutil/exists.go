package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ExistsError is an output that already exists: keyrite never replaces
// one. errors.Is(err, fs.ErrExist) (and so ErrExists) holds for it;
// os.IsExist, which predates error wrapping, does not see it.
type ExistsError struct {
	Path string
	What string // what the output would have been: "bundle", "backup", "record"...; may be empty
}

func (e *ExistsError) Error() string { return fmt.Sprintf("output %s already exists", e.Path) }

// Is reports whether target is fs.ErrExist.
func (e *ExistsError) Is(target error) bool { return target == fs.ErrExist }

// RefuseExisting returns an *ExistsError if path exists (as anything,
// including a dangling symbolic link), nil if it does not, and the error
// of a path that cannot be checked (a parent that cannot be searched, for
// instance), so that a ceremony stops before any work rather than when it
// writes.
func RefuseExisting(path, what string) error {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return &ExistsError{Path: path, What: what}
	case errors.Is(err, fs.ErrNotExist):
		return nil
	}
	return err
}
