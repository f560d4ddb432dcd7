package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// PublishOptions control Publish.
type PublishOptions struct {
	Server   Server
	Bundle   *Signed
	Progress func(done, total int, gun, state string)
	// Deadline bounds each GUN's publication, its retries included
	// (zero: eight times the server's request timeout).
	Deadline time.Duration
}

// DefaultConcurrency is how many GUNs publish at once when the server's
// Concurrency is not set: enough to keep a notary-server and the network
// busy, few enough not to flood either.
const DefaultConcurrency = 8

// Outcomes of a GUN's publication.
const (
	OutcomePublished = "published"
	OutcomeAlready   = "already published"
	OutcomeFailed    = "failed"
)

// PublishResult says what the server holds for a GUN after publishing,
// as notary's client code read and verified it, or why it failed.
type PublishResult struct {
	GUN             string   `json:"gun"`
	Outcome         string   `json:"outcome"`
	Error           string   `json:"error,omitempty"`
	AlreadyThere    bool     `json:"already_published"`
	RootVersion     int      `json:"root_version"`
	RootKeyIDs      []string `json:"root_key_ids"`
	TargetsKeyIDs   []string `json:"targets_key_ids"`
	SnapshotVersion int      `json:"snapshot_version"`
}

// StaleError is a request bundle that no longer matches the server.
type StaleError struct{ GUN, Reason string }

func (e *StaleError) Error() string { return fmt.Sprintf("%s: %s", e.GUN, e.Reason) }

// PublishError is a publication in which some GUNs failed: the others
// are published (or were already), each failed one is either entirely
// absent from the server or entirely there (notary-server stores one
// upload atomically), and publishing the same bundle again finishes it.
type PublishError struct {
	Failed, Total int
	First         string // the first failed GUN and its reason
}

func (e *PublishError) Error() string {
	return fmt.Sprintf("%d of %d repositories were not published (first: %s); the others are; publish the same bundle again to finish", e.Failed, e.Total, e.First)
}

// Publish uploads every GUN of a verified signed bundle, then reads each
// repository back with notary's client code, pinned to the root the
// bundle signed. It checks every GUN against the server before uploading
// any, so a stale bundle changes nothing. GUNs go Server.Concurrency at a
// time (DefaultConcurrency if unset), each as a pipeline of one check,
// one upload and the read-back (five requests for a new repository);
// every GUN's outcome is in the results, in the bundle's order.
func Publish(ctx context.Context, o PublishOptions) ([]PublishResult, error) {
	if o.Server.Concurrency <= 0 {
		o.Server.Concurrency = DefaultConcurrency
	}
	c, err := o.Server.client(AccessPushPull)
	if err != nil {
		return nil, err
	}
	b := o.Bundle
	if c.base != b.Info.Server {
		return nil, fmt.Errorf("this bundle was prepared for %s (its request bundle was fetched there), not %s: publish it to the server it was made for, or fetch and sign again", b.Info.Server, c.base)
	}
	deadline := o.Deadline
	if deadline <= 0 {
		deadline = 8 * c.bare.Timeout
	}
	repos := b.Info.Repos
	out := make([]PublishResult, len(repos))
	fail := func(i int, err error) {
		out[i] = PublishResult{GUN: repos[i].GUN, Outcome: OutcomeFailed, Error: err.Error()}
	}
	// Every GUN checked first: a stale one stops everything.
	already := make([]bool, len(repos))
	failed := make([]bool, len(repos))
	stale := make([]error, len(repos))
	each(o.Server.Concurrency, len(repos), func(i int) {
		gctx, cancel := context.WithTimeout(ctx, deadline)
		defer cancel()
		same, err := preflight(gctx, c, b, repos[i])
		var st *StaleError
		switch {
		case errors.As(err, &st):
			stale[i] = err
		case err != nil:
			failed[i] = true
			fail(i, err)
		}
		already[i] = same
	})
	if err := errors.Join(stale...); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	done := 0
	each(o.Server.Concurrency, len(repos), func(i int) {
		r := repos[i]
		if !failed[i] {
			gctx, cancel := context.WithTimeout(ctx, deadline)
			res, err := publishOne(gctx, c, b, r, already[i])
			cancel()
			if err != nil {
				fail(i, err)
			} else {
				out[i] = *res
			}
		}
		if o.Progress != nil {
			mu.Lock()
			done++
			o.Progress(done, len(repos), r.GUN, out[i].Outcome)
			mu.Unlock()
		}
	})
	var pe *PublishError
	for _, r := range out {
		if r.Outcome == OutcomeFailed {
			if pe == nil {
				pe = &PublishError{Total: len(out), First: r.GUN + ": " + r.Error}
			}
			pe.Failed++
		}
	}
	if pe != nil {
		return out, pe
	}
	return out, ctx.Err()
}

// publishOne uploads one GUN (unless it is already there) and reads it
// back.
func publishOne(ctx context.Context, c *client, b *Signed, r SignedRepo, already bool) (*PublishResult, error) {
	if !already {
		landed, err := uploadChecked(ctx, c, b, r)
		if err != nil {
			return nil, err
		}
		already = landed
	}
	res, err := readBack(ctx, c, b, r)
	if err != nil {
		return nil, fmt.Errorf("uploaded, but reading it back failed: %w", err)
	}
	res.Outcome, res.AlreadyThere = OutcomePublished, already
	if already {
		res.Outcome = OutcomeAlready
	}
	return res, nil
}

// each runs f(0) … f(n-1), at most limit at a time.
func each(limit, n int, f func(i int)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// MetaVersion reads the version of a metadata file, 0 when unreadable.
func MetaVersion(b []byte) int {
	var m struct {
		Signed struct {
			Version int `json:"version"`
		} `json:"signed"`
	}
	if json.Unmarshal(b, &m) != nil {
		return 0
	}
	return m.Signed.Version
}
