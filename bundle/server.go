package bundle

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyrite/keyrite/internal/fsutil"
)

// Server says how to reach a notary-server.
type Server struct {
	URL        string
	CAFile     string // PEM CA bundle to trust instead of the system's
	ClientCert string // PEM client certificate for mutual TLS
	ClientKey  string
	Timeout    time.Duration
	// Credentials answers the server's token challenges (see auth.go);
	// nil: anonymous tokens only.
	Credentials CredentialFunc
	// Retry is how GETs are retried (zero: DefaultRetry).
	Retry RetryPolicy
	// Concurrency bounds the requests in flight (zero: one).
	Concurrency int
}

// NormalizeURL gives the form of a server URL that bundles record and
// compare: scheme and host lower case, no trailing slash.
func NormalizeURL(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("invalid server URL %q: expected https://host[:port]", s)
	}
	if u.User != nil {
		return "", fmt.Errorf("invalid server URL: credentials do not belong in a URL")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("invalid server URL %q: no query or fragment allowed", s)
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + strings.TrimSuffix(u.Path, "/"), nil
}

// CAFileError is a Server.CAFile that cannot be used: unreadable (Err
// says why) or holding no PEM certificate (Err nil).
type CAFileError struct {
	File string
	Err  error
}

func (e *CAFileError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("reading the CA certificate file: %v", e.Err)
	}
	return fmt.Sprintf("CA certificate file %s holds no PEM certificate", e.File)
}

func (e *CAFileError) Unwrap() error { return e.Err }

// maxCAFileSize bounds --tls-ca: a bundle of CA certificates.
const maxCAFileSize = 1 << 20

func (s Server) transport() (*http.Transport, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := fsutil.ReadRegular(s.CAFile, maxCAFileSize)
		if err != nil {
			return nil, &CAFileError{File: s.CAFile, Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &CAFileError{File: s.CAFile}
		}
		cfg.RootCAs = pool
	}
	if s.ClientCert != "" || s.ClientKey != "" {
		c, err := tls.LoadX509KeyPair(s.ClientCert, s.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	// As many idle connections kept as requests run at once: each new one
	// costs a TLS handshake.
	return &http.Transport{TLSClientConfig: cfg, Proxy: http.ProxyFromEnvironment,
		TLSHandshakeTimeout: 15 * time.Second, ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost: max(2, s.Concurrency)}, nil
}

type client struct {
	base  string
	http  *http.Client
	rt    http.RoundTripper
	bare  *http.Client // without authentication: the ping
	retry RetryPolicy
}

// client connects to the server with the access an operation needs on each
// repository; tokens are asked for only when the server challenges.
func (s Server) client(access Access) (*client, error) {
	base, err := NormalizeURL(s.URL)
	if err != nil {
		return nil, err
	}
	t, err := s.transport()
	if err != nil {
		return nil, err
	}
	to := s.Timeout
	if to == 0 {
		to = 60 * time.Second
	}
	// The timeout is each request's (bare's); GETs are retried above the
	// authentication (retryTransport), each try within it.
	bare := &http.Client{Transport: t, Timeout: to}
	rt := &retryTransport{next: newAuthTransport(base, bare, s.Credentials, access), policy: s.Retry}
	return &client{base: base, http: &http.Client{Transport: rt}, rt: rt, bare: bare, retry: s.Retry.orDefault()}, nil
}

// errNotFound is a 404 from the server.
var errNotFound = errors.New("not found on the server")

func (c *client) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, transportError("contacting "+c.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, errNotFound
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET %s: server answered %s: %s", path, resp.Status, firstLine(body))
	}
	return body, nil
}

// transportError is an access refusal as it is (its message names the
// server), anything else said with what was being done.
func transportError(doing string, err error) error {
	var ae *AuthError
	if errors.As(err, &ae) {
		return ae
	}
	return fmt.Errorf("%s: %w", doing, err)
}

func tufPath(gun, file string) string { return "/v2/" + gun + "/_trust/tuf/" + file }

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
