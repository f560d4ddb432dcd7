package faultproxy

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"
)

// ServeHTTP forwards one request, or fails it.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.total.Add(1)
	switch p.pick(gunOf(r.URL.Path)) {
	case Status:
		http.Error(w, "injected fault: service unavailable", []int{500, 502, 503}[int(p.total.Load())%3])
		return
	case Reset:
		p.forward(r)
		hijackClose(w)
		return
	case Stalled:
		p.forward(r)
		time.Sleep(p.stall)
		hijackClose(w)
		return
	}
	p.proxy.ServeHTTP(w, r)
}

// forward lets the server handle the request, keeping its answer from
// the client.
func (p *Proxy) forward(r *http.Request) {
	rec := httptest.NewRecorder()
	var body bytes.Buffer
	if r.Body != nil {
		body.ReadFrom(r.Body)
	}
	r2 := r.Clone(r.Context())
	r2.Body = http.NoBody
	if body.Len() > 0 {
		r2.Body = readCloser{bytes.NewReader(body.Bytes())}
		r2.ContentLength = int64(body.Len())
	}
	p.proxy.ServeHTTP(rec, r2)
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// hijackClose closes the client's connection without an answer.
func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
		}
	}
}

// gunOf reads the GUN from a notary API path: /v2/GUN/_trust/...
func gunOf(path string) string {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return ""
	}
	gun, _, _ := strings.Cut(rest, "/_trust/")
	return gun
}
