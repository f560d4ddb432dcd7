package store

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// lockWait is how long a writer waits for another to finish: a batch of
// pins holds the lock for well under a second, so a longer wait means a
// stuck keyrite.
var lockWait = 30 * time.Second

// LockedError is a trust store another process kept locked for longer
// than a writer waits.
type LockedError struct {
	Dir    string
	Waited time.Duration
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("trust store %s: another keyrite kept it locked for %s", e.Dir, e.Waited.Round(time.Second))
}

// flock takes f's exclusive lock, waiting at most lockWait. A filesystem
// without locks leaves the store unlocked, as before.
func (s *Store) flock(f *os.File) error {
	deadline := time.Now().Add(lockWait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil, errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.ENOLCK):
			return nil
		case !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR):
			return fmt.Errorf("trust store %s: lock: %w", s.Dir, err)
		case time.Now().After(deadline):
			return &LockedError{Dir: s.Dir, Waited: lockWait}
		}
		time.Sleep(20 * time.Millisecond)
	}
}
