package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A writer waits for another that holds the store's lock, and gives up
// with a LockedError, nothing written, when the other keeps it.
func TestWriterWaitsForTheLockThenGivesUp(t *testing.T) {
	s := Open(t.TempDir())
	if _, err := s.Set("example.com/a", nil, root(1, "k1"), SourceSigned, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s.Dir)
	f, err := os.OpenFile(filepath.Join(s.Dir, ".lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer func(w time.Duration) { lockWait = w }(lockWait)
	lockWait = 200 * time.Millisecond
	var locked *LockedError
	if _, err := Open(s.Dir).Set("example.com/b", nil, root(1, "k1"), SourceSigned, "", time.Now()); !errors.As(err, &locked) {
		t.Fatalf("Set while another holds the lock: %v", err)
	}
	if after := snapshot(t, s.Dir); after != before {
		t.Fatalf("the store changed while it was locked")
	}
	// Released while the writer waits: it goes on.
	lockWait = 5 * time.Second
	fd := int(f.Fd())
	released := make(chan struct{})
	go func() {
		defer close(released)
		time.Sleep(100 * time.Millisecond)
		unix.Flock(fd, unix.LOCK_UN)
	}()
	_, err = Open(s.Dir).Set("example.com/b", nil, root(1, "k1"), SourceSigned, "", time.Now())
	<-released
	if err != nil {
		t.Fatalf("Set once the lock was released: %v", err)
	}
}
