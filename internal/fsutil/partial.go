package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"

	"golang.org/x/sys/unix"
)

// The temporaries WriteFile and WriteTree make next to their output are
// named .BASE.partial-N (N: the decimal random part os.CreateTemp and
// os.MkdirTemp add) and held under an exclusive flock while they are
// written. A process killed while writing leaves one behind, unlocked;
// RemoveStalePartials removes those.

// lockPartial locks a temporary being written, so that RemoveStalePartials
// leaves it alone; the lock dies with the process.
func lockPartial(f *os.File) {
	// A filesystem without flock only loses that protection.
	unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
}

// partialName matches the temporaries of one output's base name.
func partialName(base string) *regexp.Regexp {
	return regexp.MustCompile(`^\.` + regexp.QuoteMeta(base) + `\.partial-[0-9]+$`)
}

// RemoveStalePartials removes the temporaries an interrupted write of path
// left next to it: entries of path's directory named .BASE.partial-N, and
// nothing else, that no running process holds locked. It returns the paths
// removed.
func RemoveStalePartials(path string) ([]string, error) {
	path = filepath.Clean(path)
	dir, base := filepath.Dir(path), filepath.Base(path)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	re := partialName(base)
	var removed []string
	for _, e := range entries {
		if !re.MatchString(e.Name()) || e.Type()&os.ModeSymlink != 0 {
			continue
		}
		p := filepath.Join(dir, e.Name())
		ok, err := removeUnlocked(p)
		if err != nil {
			return removed, err
		}
		if ok {
			removed = append(removed, p)
		}
	}
	return removed, nil
}

// removeUnlocked removes a temporary unless a live writer holds its lock.
func removeUnlocked(p string) (bool, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil // being written right now
	}
	if err := os.RemoveAll(p); err != nil {
		return false, err
	}
	return true, SyncDir(filepath.Dir(p))
}
