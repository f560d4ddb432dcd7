package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	xterm "golang.org/x/term"
)

// plainEvery is how often a batch reports on a non-terminal, besides its
// first and last item.
const plainEvery = 2 * time.Second

// batchProgress reports a batch's items: on a terminal a progress bar with
// the count, rate and time left; otherwise a plain line for the first
// item, the last, and at most one every plainEvery in between.
type batchProgress struct {
	w     io.Writer
	verb  string
	tty   bool
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	last  time.Time
	start time.Time
}

func (a *App) newProgress(verb string) *batchProgress {
	p := &batchProgress{w: a.Stderr, verb: verb}
	if f, ok := a.Stderr.(*os.File); ok && xterm.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

// item reports item number done of total, in state (the verb, unless the
// item says otherwise: "already published").
func (p *batchProgress) item(done, total int, name, state string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.start.IsZero() {
		p.start = now
	}
	if p.tty {
		if p.bar == nil {
			p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription("keyrite: "+p.verb),
				progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("repos"),
				progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }))
		}
		p.bar.Describe(fmt.Sprintf("keyrite: %s %s", state, name))
		p.bar.Set(done)
		return
	}
	if done == 1 || done == total || now.Sub(p.last) >= plainEvery {
		fmt.Fprintf(p.w, "keyrite: [%d/%d] %s %s\n", done, total, state, name)
		p.last = now
	}
}
