package fsutil

import (
	"sync"
	"sync/atomic"
)

// ioWorkers is how many file operations run at once when a bundle is
// written or read: each create, write or open can wait on the
// filesystem's journal, and those waits overlap (measured: scripts/bench).
const ioWorkers = 8

// Each calls f(0) … f(n-1) on up to ioWorkers goroutines and returns the
// error of the lowest index that failed (so the error reported does not
// depend on scheduling); after a failure no new index starts. The workers
// take indexes from an atomic counter: no lock, so no goroutine parks on
// another between two files.
func Each(n int, f func(i int) error) error {
	if n == 0 {
		return nil
	}
	if n == 1 {
		return f(0)
	}
	errs := make([]error, n)
	var (
		next   atomic.Int64
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	for range min(ioWorkers, n) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					errs[i] = err
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
