package testenv

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NotaryServer is a real notary-server subprocess listening on loopback with
// TLS from a throwaway CA.
type NotaryServer struct {
	URL       string // https://localhost:PORT
	Addr      string // 127.0.0.1:PORT
	CAFile    string // PEM of the CA that signed the server certificate
	CACertPEM []byte
	Dir       string // holds the config, certificates and log
	LogFile   string // the server's stdout and stderr
	PID       int

	cmd      *exec.Cmd
	exited   chan struct{} // closed once the process has been reaped
	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

const (
	notaryStartTimeout = 15 * time.Second
	notaryCmdTimeout   = 60 * time.Second
	notaryStartTries   = 3
)

// StartNotaryServer starts a notary-server in a temporary directory and stops
// it when the test ends. A missing notary-server binary fails the test.
func StartNotaryServer(t testing.TB) *NotaryServer {
	t.Helper()
	s, err := StartNotaryServerDir(t.TempDir())
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
	return s
}

// StartNotaryServerDir starts a notary-server whose files live in dir (created
// if needed) and waits until it answers. The process is in its own session, so
// it outlives the caller unless Stop is called.
func StartNotaryServerDir(dir string) (*NotaryServer, error) { return startNotaryServerDir(dir, nil) }

// startNotaryServerDir starts a notary-server in dir; auth, when not nil,
// is called once the TLS files exist and returns the config's auth
// section (see tokenauth.go).
func startNotaryServerDir(dir string, auth func(dir string) (map[string]any, error)) (*NotaryServer, error) {
	bin, err := exec.LookPath("notary-server")
	if err != nil {
		return nil, fmt.Errorf("notary-server not found in PATH (hint: run scripts/setup): %w", err)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	caPEM, err := notaryWriteTLS(dir)
	if err != nil {
		return nil, fmt.Errorf("making test certificates: %w", err)
	}
	var authConfig map[string]any
	if auth != nil {
		if authConfig, err = auth(dir); err != nil {
			return nil, err
		}
	}
	// The port is picked by binding :0 and closing it, so another process may
	// take it before the server binds it: retry with a new port in that case.
	for try := 1; ; try++ {
		s, err := notaryStartOnce(bin, dir, caPEM, authConfig)
		if err == nil || try == notaryStartTries || !errors.Is(err, errNotaryAddrInUse) {
			return s, err
		}
	}
}

var errNotaryAddrInUse = errors.New("address already in use")

func notaryStartOnce(bin, dir string, caPEM []byte, authConfig map[string]any) (*NotaryServer, error) {
	port, err := notaryFreePort()
	if err != nil {
		return nil, err
	}
	s := &NotaryServer{
		URL:       "https://localhost:" + strconv.Itoa(port),
		Addr:      "127.0.0.1:" + strconv.Itoa(port),
		CAFile:    filepath.Join(dir, "ca.crt"),
		CACertPEM: caPEM,
		Dir:       dir,
		LogFile:   filepath.Join(dir, "server.log"),
		exited:    make(chan struct{}),
	}
	config := map[string]any{
		"server": map[string]any{
			"http_addr":     s.Addr,
			"tls_cert_file": filepath.Join(dir, "server.crt"),
			"tls_key_file":  filepath.Join(dir, "server.key"),
		},
		"trust_service": map[string]any{"type": "local"},
		"storage":       map[string]any{"backend": "memory"},
		"logging":       map[string]any{"level": "info"},
	}
	if authConfig != nil {
		config["auth"] = authConfig
	}
	configJSON, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return nil, err
	}
	configFile := filepath.Join(dir, "server.json")
	if err := os.WriteFile(configFile, append(configJSON, '\n'), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(s.LogFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own copy
	cmd := exec.Command(bin, "-config", configFile)
	cmd.Dir = dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting notary-server: %w", err)
	}
	s.cmd = cmd
	s.PID = cmd.Process.Pid
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(notaryStartTimeout); err != nil {
		_ = s.Stop()
		tail := s.LogTail(20)
		if strings.Contains(tail, "address already in use") {
			err = fmt.Errorf("%w: %v", errNotaryAddrInUse, err)
		}
		return nil, fmt.Errorf("notary-server on %s: %w\nlog tail (%s):\n%s", s.Addr, err, s.LogFile, tail)
	}
	return s, nil
}

// waitReady polls GET /v2/ until it answers 200 over TLS verified by the CA.
func (s *NotaryServer) waitReady(timeout time.Duration) error {
	client, err := s.HTTPClient()
	if err != nil {
		return err
	}
	client.Timeout = 2 * time.Second
	deadline := time.Now().Add(timeout)
	var last error
	for {
		resp, err := client.Get(s.URL + "/v2/")
		if err == nil {
			resp.Body.Close()
			// 401: a server with token auth answers, asking for a token.
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		last = err
		select {
		case <-s.exited:
			return fmt.Errorf("exited before answering: %v", s.waitErr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not answering after %s: %w", timeout, last)
		}
	}
}

// HTTPClient returns a client that trusts the server's CA.
func (s *NotaryServer) HTTPClient() (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CACertPEM) {
		return nil, errors.New("no certificate in CACertPEM")
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		Proxy:           nil,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// Stop kills the server and waits for it to exit. It is safe to call more
// than once. Only a server started by this process can be stopped this way.
func (s *NotaryServer) Stop() error {
	s.stopOnce.Do(func() {
		if s.cmd == nil {
			s.stopErr = errors.New("notary-server was not started by this process")
			return
		}
		if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.stopErr = fmt.Errorf("killing pid %d: %w", s.PID, err)
			return
		}
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.stopErr = fmt.Errorf("pid %d still running 10s after SIGKILL", s.PID)
		}
	})
	return s.stopErr
}

// LogTail returns the last n lines of the server log.
func (s *NotaryServer) LogTail(n int) string {
	b, err := os.ReadFile(s.LogFile)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// NotaryCLI runs `notary -d trustDir -s URL --tlscacert CAFile args...`.
func (s *NotaryServer) NotaryCLI(trustDir string, args ...string) (stdout, stderr string, err error) {
	return s.NotaryCLIEnv(nil, trustDir, args...)
}

// NotaryCLIEnv is NotaryCLI with extra environment entries ("K=V"), such as
// NOTARY_ROOT_PASSPHRASE, NOTARY_TARGETS_PASSPHRASE,
// NOTARY_SNAPSHOT_PASSPHRASE and NOTARY_DELEGATION_PASSPHRASE. The notary CLI
// is only a judge in tests, so passphrases in its environment are fine.
// Stdin is empty, so a missing passphrase fails instead of hanging.
func (s *NotaryServer) NotaryCLIEnv(env []string, trustDir string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), notaryCmdTimeout)
	defer cancel()
	full := append([]string{"-d", trustDir, "-s", s.URL, "--tlscacert", s.CAFile}, args...)
	cmd := exec.CommandContext(ctx, "notary", full...)
	cmd.Env = append(notaryMinimalEnv(trustDir), env...)
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("notary %s: timed out after %s", strings.Join(args, " "), notaryCmdTimeout)
	} else if err != nil {
		err = fmt.Errorf("notary %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), err
}

// DockerTrustInspect runs `docker trust inspect [--pretty] GUN` against the
// server with DOCKER_CONFIG=dockerConfig, after installing the server's CA at
// $DOCKER_CONFIG/tls/localhost:PORT/ca.crt. Docker keeps its trust-on-first-use
// cache under $DOCKER_CONFIG/trust: reuse a config dir to keep old trust.
// It returns stdout and stderr combined.
func (s *NotaryServer) DockerTrustInspect(dockerConfig, gun string, pretty bool) (string, error) {
	host := strings.TrimPrefix(s.URL, "https://")
	tlsDir := filepath.Join(dockerConfig, "tls", host)
	if err := os.MkdirAll(tlsDir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tlsDir, "ca.crt"), s.CACertPEM, 0o644); err != nil {
		return "", err
	}
	args := []string{"trust", "inspect"}
	if pretty {
		args = append(args, "--pretty")
	}
	args = append(args, gun)
	ctx, cancel := context.WithTimeout(context.Background(), notaryCmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(notaryMinimalEnv(dockerConfig),
		"DOCKER_CONFIG="+dockerConfig,
		"DOCKER_CONTENT_TRUST_SERVER="+s.URL,
	)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("docker %s: timed out after %s", strings.Join(args, " "), notaryCmdTimeout)
	} else if err != nil {
		err = fmt.Errorf("docker %s: %w", strings.Join(args, " "), err)
	}
	return string(out), err
}

// notaryMinimalEnv is PATH from this process and HOME set to home, so the judges do
// not read the user's ~/.notary or ~/.docker.
func notaryMinimalEnv(home string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	return []string{"PATH=" + path, "HOME=" + home}
}

func notaryFreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// notaryWriteTLS writes dir/ca.crt, dir/server.crt and dir/server.key: a
// one-day P-256 CA and a leaf for localhost and 127.0.0.1 signed by it
// (docker refuses a self-signed leaf). It returns the CA certificate PEM.
func notaryWriteTLS(dir string) ([]byte, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          notaryRandomSerial(),
		Subject:               pkix.Name{CommonName: "keyrite testenv CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: notaryRandomSerial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	leafKeyDER, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"ca.crt", caPEM, 0o644},
		{"server.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), 0o644},
		{"server.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: leafKeyDER}), 0o600},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return nil, err
		}
	}
	return caPEM, nil
}

func notaryRandomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

// Parsers for `docker trust inspect --pretty` output (docker CLI 28), which
// looks like this (tabs shown as \t):
//
//	Signatures for GUN                       (or "No signatures for GUN")
//
//	SIGNED TAG   DIGEST                                                             SIGNERS
//	v1           5891b5b5...(64 hex)                                                (Repo Admin)
//	v2           5891b5b5...(64 hex)                                                alice, bob
//
//	List of signers and their keys for GUN   (only when there are signers)
//
//	SIGNER    KEYS
//	alice     773413dcf0de, b76ad5545a0f
//
//	Administrative keys for GUN
//
//	  Repository Key:\t5b16dfd8...(64 hex)
//	  Root Key:\t41956ac5...(64 hex)
//
// Signer key IDs are canonical IDs truncated to 12 hex digits (use the JSON
// form, ParseDockerTrustJSON, for full IDs). "Root Key" is the ID listed in
// root.json (for notary's x509 root, the certificate's key ID, not the
// canonical ID that `notary key list` shows); "Repository Key" is the targets
// key ID from root.json. Several keys are sorted and joined with ", ".
// Only tags present in targets or targets/releases are listed: a tag signed
// only in another delegation (targets/alice) does not appear.

// ParseDockerRootKey returns the value after "Root Key:" (several IDs stay
// joined with ", ").
func ParseDockerRootKey(out string) (string, error) {
	return dockerAdminKey(out, "Root Key:")
}

// ParseDockerRepositoryKey returns the value after "Repository Key:".
func ParseDockerRepositoryKey(out string) (string, error) {
	return dockerAdminKey(out, "Repository Key:")
}

func dockerAdminKey(out, label string) (string, error) {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), label); ok {
			if v = strings.TrimSpace(v); v != "" {
				return v, nil
			}
		}
	}
	return "", fmt.Errorf("no %q line in docker trust inspect output", label)
}

// ParseDockerSigners returns the "List of signers" table as signer name →
// key IDs (12-hex-digit prefixes of canonical IDs). It is empty when docker
// lists no signers.
func ParseDockerSigners(out string) map[string][]string {
	signers := map[string][]string{}
	for _, row := range dockerTable(out, "SIGNER", "KEYS") {
		f := strings.Fields(row)
		if len(f) == 0 {
			continue
		}
		signers[f[0]] = dockerSplitList(strings.Join(f[1:], " "))
	}
	return signers
}

// DockerSignedTag is a row of the "Signatures for" table.
type DockerSignedTag struct {
	Digest  string
	Signers []string // "(Repo Admin)" for tags signed with the targets key
}

// ParseDockerSignedTags returns the "Signatures for" table by tag. It is
// empty when docker prints "No signatures for".
func ParseDockerSignedTags(out string) map[string]DockerSignedTag {
	tags := map[string]DockerSignedTag{}
	for _, row := range dockerTable(out, "SIGNED TAG", "DIGEST") {
		f := strings.Fields(row)
		if len(f) < 3 {
			continue
		}
		tags[f[0]] = DockerSignedTag{
			Digest:  f[1],
			Signers: dockerSplitList(strings.Join(f[2:], " ")),
		}
	}
	return tags
}

// dockerTable returns the rows under the header line that starts with first
// and contains second, up to the next blank line.
func dockerTable(out, first, second string) []string {
	var rows []string
	in := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case !in && strings.HasPrefix(line, first) && strings.Contains(line, second):
			in = true
		case in && line == "":
			return rows
		case in:
			rows = append(rows, line)
		}
	}
	return rows
}

func dockerSplitList(s string) []string {
	var items []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// DockerTrustRepo is one element of `docker trust inspect` JSON output (no
// --pretty). Key IDs there are full length.
type DockerTrustRepo struct {
	Name       string
	SignedTags []struct {
		SignedTag string
		Digest    string
		Signers   []string // "Repo Admin" for the targets key
	}
	Signers            []DockerTrustKeys
	AdministrativeKeys []DockerTrustKeys // Name "Root" or "Repository"
}

// DockerTrustKeys is a named list of key IDs in DockerTrustRepo.
type DockerTrustKeys struct {
	Name string
	Keys []struct{ ID string }
}

// ParseDockerTrustJSON parses `docker trust inspect` JSON output. Anything
// before the first '[' (warnings on the combined output) is ignored.
func ParseDockerTrustJSON(out string) ([]DockerTrustRepo, error) {
	i := strings.IndexByte(out, '[')
	if i < 0 {
		return nil, errors.New("no JSON array in docker trust inspect output")
	}
	var repos []DockerTrustRepo
	if err := json.NewDecoder(strings.NewReader(out[i:])).Decode(&repos); err != nil {
		return nil, fmt.Errorf("parsing docker trust inspect output: %w", err)
	}
	return repos, nil
}
