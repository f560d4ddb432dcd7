package inorder

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"weak"
)

func TestRun(t *testing.T) {
	var got []int
	var running, most atomic.Int64
	err := Run(context.Background(), 50, 4, func(_ context.Context, i int) (int, error) {
		if r := running.Add(1); r > most.Load() {
			most.Store(r)
		}
		defer running.Add(-1)
		time.Sleep(time.Duration(50-i) * 50 * time.Microsecond) // later items finish first
		return i * i, nil
	}, func(i, v int) error {
		if v != i*i {
			t.Errorf("item %d: %d", i, v)
		}
		got = append(got, i)
		return nil
	})
	if err != nil || len(got) != 50 {
		t.Fatalf("err %v, %d used", err, len(got))
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("used out of order: %v", got)
		}
	}
	if most.Load() > 4 {
		t.Errorf("%d at once, want at most 4", most.Load())
	}

	// The first error in order wins, nothing after it is used, and every
	// goroutine has returned.
	boom := errors.New("boom")
	var made atomic.Int64
	used := 0
	err = Run(context.Background(), 1000, 2, func(ctx context.Context, i int) (int, error) {
		made.Add(1)
		if i == 7 || i == 9 {
			return 0, boom
		}
		return i, nil
	}, func(i, v int) error { used++; return nil })
	if !errors.Is(err, boom) || used != 7 {
		t.Errorf("err %v, used %d, want boom after 7", err, used)
	}
	if m := made.Load(); m == 1000 {
		t.Logf("all 1000 made before the stop was seen") // allowed, not required
	}
	n := made.Load()
	time.Sleep(10 * time.Millisecond)
	if made.Load() != n {
		t.Error("items were still being made after Run returned")
	}

	// A cancelled context stops it with the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	err = Run(ctx, 100, 2, func(ctx context.Context, i int) (int, error) {
		if i == 3 {
			cancel()
		}
		return i, nil
	}, func(i, v int) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// An item handed on is not kept by Run: a batch's items live as long as
// use keeps them, not until the whole batch is done.
func TestRunDropsItemsHandedOn(t *testing.T) {
	type item struct{ payload [1 << 16]byte }
	var first weak.Pointer[item]
	err := Run(context.Background(), 3, 1, func(_ context.Context, i int) (*item, error) {
		return &item{}, nil
	}, func(i int, v *item) error {
		switch i {
		case 0:
			first = weak.Make(v)
		case 2:
			runtime.GC()
			if first.Value() != nil {
				t.Error("the first item is still held after it was handed on")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
