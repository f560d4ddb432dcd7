package fsutil

import "sync"

// ioWorkers is how many file operations run at once when a bundle is
// written or read: each create, write or open can wait on the
// filesystem's journal, and those waits overlap (measured: scripts/bench).
const ioWorkers = 8

// Each calls f(0) … f(n-1) on up to ioWorkers goroutines and returns the
// error of the lowest index that failed (so the error reported does not
// depend on scheduling); after a failure no new index starts.
func Each(n int, f func(i int) error) error {
	if n == 0 {
		return nil
	}
	errs := make([]error, n)
	var (
		mu     sync.Mutex
		next   int
		failed bool
		wg     sync.WaitGroup
	)
	for range min(ioWorkers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if failed || next == n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := f(i); err != nil {
					errs[i] = err
					mu.Lock()
					failed = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
