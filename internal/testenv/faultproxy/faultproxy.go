// Package faultproxy is a reverse proxy for tests and benchmarks that
// stands in front of a notary-server: it counts the requests it forwards
// and, at a given rate, makes them fail the ways a network and an
// overloaded server do — a 5xx answer without forwarding, a connection
// reset after the server handled the request (the answer is lost), and an
// answer stalled past the client's deadline.
package faultproxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Fault kinds.
const (
	None    = "none"
	Status  = "5xx"   // answered 503 (or 500, 502) without reaching the server
	Reset   = "reset" // forwarded, handled, then the connection is closed unanswered
	Stalled = "stall" // forwarded, handled, the answer held past Stall, then dropped
)

// Proxy forwards to a notary-server.
type Proxy struct {
	URL string // http://127.0.0.1:PORT

	srv   *http.Server
	proxy *httputil.ReverseProxy
	stall time.Duration

	mu     sync.Mutex
	rng    *rand.Rand
	rate   float64
	broken map[string]bool // GUNs whose every request is answered 503
	counts map[string]int  // by fault kind
	byGUN  map[string]int  // requests forwarded or faulted, by GUN
	total  atomic.Int64
}

// Start listens on loopback and forwards to target (an https URL whose
// certificate caFile's CA signed). seed makes the fault sequence
// repeatable; stall is how long a stalled answer is held.
func Start(target, caFile string, seed uint64, stall time.Duration) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + l.Addr().String(), stall: stall, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)),
		counts: map[string]int{}, byGUN: map[string]int{}}
	p.proxy = httputil.NewSingleHostReverseProxy(u)
	p.proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64}
	// Clients that gave up on a stalled answer are expected here.
	p.proxy.ErrorLog = log.New(io.Discard, "", 0)
	p.srv = &http.Server{Handler: p}
	go p.srv.Serve(l)
	return p, nil
}

// SetRate sets the share of requests (0 to 1) that fail.
func (p *Proxy) SetRate(rate float64) {
	p.mu.Lock()
	p.rate = rate
	p.mu.Unlock()
}

// Break makes every request for these GUNs fail (503), until Break is
// called again with others (or none).
func (p *Proxy) Break(guns ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.broken = map[string]bool{}
	for _, g := range guns {
		p.broken[g] = true
	}
}

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

// Counts returns how many requests met each fault kind, and the total.
func (p *Proxy) Counts() (map[string]int, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.counts {
		out[k] = v
	}
	return out, p.total.Load()
}

// PerGUN returns how many requests each GUN cost, and resets the count.
func (p *Proxy) PerGUN() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.byGUN
	p.byGUN = map[string]int{}
	return out
}

// pick draws the fate of one request.
func (p *Proxy) pick(gun string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if gun != "" {
		p.byGUN[gun]++
	}
	kind := None
	if p.broken[gun] {
		kind = Status
	} else if p.rng.Float64() < p.rate {
		kind = []string{Status, Reset, Stalled}[p.rng.IntN(3)]
	}
	p.counts[kind]++
	return kind
}
