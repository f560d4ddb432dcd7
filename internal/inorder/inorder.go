// Package inorder makes the items of a batch on several goroutines and
// hands them on in the batch's order.
package inorder

import (
	"context"
	"sync"
	"sync/atomic"
)

// Run runs build for 0 ≤ i < n on up to workers goroutines and hands
// each result to use, in order, on the calling goroutine, as soon as it
// and every one before it is done: a batch's independent items are made on
// every core while the transcript, progress and outputs still follow the
// batch's order. The first error, in order, stops it; every goroutine has
// returned when it does.
func Run[T any](ctx context.Context, n, workers int, build func(ctx context.Context, i int) (T, error), use func(i int, v T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	type slot struct {
		v    T
		err  error
		done chan struct{}
	}
	slots := make([]slot, n)
	for i := range slots {
		slots[i].done = make(chan struct{})
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(workers, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				s := &slots[i]
				// Once stopped, the remaining slots are closed at once,
				// so nothing waits for an item never made.
				if s.err = ctx.Err(); s.err == nil {
					s.v, s.err = build(ctx, i)
				}
				close(s.done)
			}
		}()
	}
	err := func() error {
		for i := range slots {
			<-slots[i].done
			if slots[i].err != nil {
				return slots[i].err
			}
			v := slots[i].v
			// Handed on: what use keeps of it, it keeps; the slot does
			// not hold every item of a batch until the end.
			var zero T
			slots[i].v = zero
			if err := use(i, v); err != nil {
				return err
			}
		}
		return nil
	}()
	cancel()
	wg.Wait()
	return err
}
