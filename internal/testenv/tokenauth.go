package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TokenIssuer is a token server of the distribution registry token
// protocol (docker/distribution docs/spec/auth/token.md and jwt.md): GET
// REALM?service=S&scope=repository:NAME:ACTIONS with HTTP Basic
// credentials answers {"token", "access_token", "expires_in",
// "issued_at"}, the token being a JWT signed ES256 with a key whose
// self-signed certificate is the server's rootcertbundle, carried in the
// header's x5c, with iss, sub, aud, exp, nbf, iat, jti and access claims
// granting, per requested scope, the requested actions the user holds.
type TokenIssuer struct {
	Realm    string // https://localhost:PORT/token
	Service  string
	Issuer   string
	CertFile string // the rootcertbundle notary-server verifies tokens with

	users map[string]TokenUser
	key   *ecdsa.PrivateKey
	der   []byte
	srv   *http.Server

	mu       sync.Mutex
	requests []TokenRequest
}

// TokenUser is an account of the token server: its password and the
// actions it holds on every repository.
type TokenUser struct {
	Password string
	Actions  []string
}

// TokenRequest is what the token server was asked and what it did.
type TokenRequest struct {
	User    string   // "" for anonymous
	Service string   // as asked
	Scopes  []string // as asked
	Granted []string // "repository:NAME:ACTIONS" granted
	Status  int
}

// StartNotaryServerTokenAuth starts a token issuer with the given users and
// a notary-server configured with `auth: {type: token, options: {realm,
// service, issuer, rootcertbundle}}` trusting it. Both stop when the test
// ends.
func StartNotaryServerTokenAuth(t testing.TB, users map[string]TokenUser) (*NotaryServer, *TokenIssuer) {
	t.Helper()
	var iss *TokenIssuer
	s, err := startNotaryServerDir(t.TempDir(), func(dir string) (map[string]any, error) {
		var err error
		iss, err = startTokenIssuer(dir, users)
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "token", "options": map[string]any{
			"realm": iss.Realm, "service": iss.Service, "issuer": iss.Issuer, "rootcertbundle": iss.CertFile,
		}}, nil
	})
	if iss != nil {
		t.Cleanup(func() { iss.srv.Close() })
	}
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("testenv: stopping notary-server: %v", err)
		}
		if t.Failed() {
			t.Logf("notary-server log tail (%s):\n%s", s.LogFile, s.LogTail(40))
		}
	})
	return s, iss
}

// startTokenIssuer serves the token endpoint over TLS with the notary
// server's own certificate (for localhost, from the same test CA).
func startTokenIssuer(dir string, users map[string]TokenUser) (*TokenIssuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          notaryRandomSerial(),
		Subject:               pkix.Name{CommonName: "keyrite testenv token issuer"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	certFile := filepath.Join(dir, "token-signing.crt")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	tlsCert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	iss := &TokenIssuer{
		Realm:    fmt.Sprintf("https://localhost:%d/token", l.Addr().(*net.TCPAddr).Port),
		Service:  "notary-server",
		Issuer:   "keyrite-testenv-issuer",
		CertFile: certFile,
		users:    users,
		key:      key,
		der:      der,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", iss.serveToken)
	iss.srv = &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{tlsCert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second}
	go iss.srv.ServeTLS(l, "", "")
	return iss, nil
}

// Requests are the token requests served so far.
func (iss *TokenIssuer) Requests() []TokenRequest {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	return slices.Clone(iss.requests)
}

func (iss *TokenIssuer) record(r TokenRequest) {
	iss.mu.Lock()
	iss.requests = append(iss.requests, r)
	iss.mu.Unlock()
}

func (iss *TokenIssuer) serveToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := TokenRequest{Service: q.Get("service"), Scopes: q["scope"]}
	var held []string
	if user, pass, ok := r.BasicAuth(); ok {
		req.User = user
		u, known := iss.users[user]
		if !known || u.Password != pass {
			req.Status = http.StatusUnauthorized
			iss.record(req)
			w.Header().Set("WWW-Authenticate", `Basic realm="keyrite testenv"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintln(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":"wrong user name or password"}]}`)
			return
		}
		held = u.Actions
	}
	if req.Service != iss.Service {
		req.Status = http.StatusBadRequest
		iss.record(req)
		http.Error(w, "unknown service", http.StatusBadRequest)
		return
	}
	type resourceActions struct {
		Type    string   `json:"type"`
		Name    string   `json:"name"`
		Actions []string `json:"actions"`
	}
	access := []resourceActions{}
	for _, scope := range req.Scopes {
		for _, one := range strings.Fields(scope) {
			// repository:NAME:ACTIONS, where NAME may hold a colon (a port).
			typ, rest, ok := strings.Cut(one, ":")
			i := strings.LastIndexByte(rest, ':')
			if !ok || i < 0 || typ != "repository" {
				continue // registry:catalog:* and the like: never granted here
			}
			name, actions := rest[:i], strings.Split(rest[i+1:], ",")
			var granted []string
			for _, a := range actions {
				if slices.Contains(held, a) {
					granted = append(granted, a)
				}
			}
			if len(granted) > 0 {
				access = append(access, resourceActions{Type: "repository", Name: name, Actions: granted})
				req.Granted = append(req.Granted, "repository:"+name+":"+strings.Join(granted, ","))
			}
		}
	}
	now := time.Now()
	jti := make([]byte, 16)
	rand.Read(jti)
	claims := map[string]any{
		"iss": iss.Issuer, "sub": req.User, "aud": req.Service,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": hex.EncodeToString(jti), "access": access,
	}
	tok, err := iss.sign(claims)
	if err != nil {
		req.Status = http.StatusInternalServerError
		iss.record(req)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Status = http.StatusOK
	iss.record(req)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": 300, "issued_at": now.UTC().Format(time.RFC3339)})
}

// sign makes a compact JWS (ES256: the raw 32-byte r and s).
func (iss *TokenIssuer) sign(claims map[string]any) (string, error) {
	enc := base64.RawURLEncoding
	header, err := json.Marshal(map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(iss.der)}})
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(body)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, iss.key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + enc.EncodeToString(sig), nil
}
