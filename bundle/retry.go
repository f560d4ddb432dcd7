package bundle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// RetryPolicy says how a request that can be repeated safely (a GET: it
// changes nothing on the server) is retried when the server answers 5xx
// or 429, or the connection fails or stalls: up to Attempts tries, each
// within the client's timeout, Backoff apart and doubling (with jitter,
// at most MaxBackoff), and never past the request's context deadline.
type RetryPolicy struct {
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// DefaultRetry is the policy when none is given.
var DefaultRetry = RetryPolicy{Attempts: 6, Backoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second}

func (p RetryPolicy) orDefault() RetryPolicy {
	if p.Attempts <= 0 {
		return DefaultRetry
	}
	return p
}

// wait sleeps before retry number n (1 for the first retry), or returns
// the context's error if it ends first.
func (p RetryPolicy) wait(ctx context.Context, n int) error {
	d := p.Backoff << (n - 1)
	if d <= 0 || d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	d = d/2 + rand.N(d/2+1)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return fmt.Errorf("retry deadline: %w", context.DeadlineExceeded)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryableStatus is an answer worth asking again: the server, or a proxy
// in front of it, is overloaded or failing.
func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code >= 500
}

// maxResponse bounds any one response keyrite reads from a server.
const maxResponse = 100 << 20

// retryTransport retries GET and HEAD requests under a RetryPolicy. Each
// try reads the whole response (within the client's timeout), so a
// response that stalls half-way is retried like a failed connection.
type retryTransport struct {
	next   http.RoundTripper
	policy RetryPolicy
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A server key request is not repeated: while a GUN has no root,
	// each one makes the server generate a new key (see Fetch).
	if (req.Method != http.MethodGet && req.Method != http.MethodHead) || strings.HasSuffix(req.URL.Path, ".key") {
		return t.next.RoundTrip(req)
	}
	p := t.policy.orDefault()
	ctx := req.Context()
	for n := 1; ; n++ {
		resp, err := t.try(req)
		if err == nil && !retryableStatus(resp.StatusCode) {
			return resp, nil
		}
		if n >= p.Attempts || ctx.Err() != nil {
			return resp, err
		}
		if werr := p.wait(ctx, n); werr != nil {
			if err == nil {
				return resp, nil // the last answer, as it was
			}
			return nil, errors.Join(err, werr)
		}
	}
}

// try makes one request and reads its body whole.
func (t *retryTransport) try(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer to %s %s: %w", req.Method, req.URL.Path, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}
