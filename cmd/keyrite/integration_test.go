package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/internal/testenv"
)

// runKeyrite runs one keyrite command line in-process.
func runKeyrite(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	// The journal goes to a test directory, never the user's state directory.
	a := &App{Stdout: &o, Stderr: &e, Now: time.Now, TrustDir: testTrustDir(t), StateDir: t.TempDir()}
	code = a.Run(context.Background(), args)
	return o.String(), e.String(), code
}

// trustDirs gives each test its own trust store, kept for the whole test:
// the air-gapped machine of one story.
var trustDirs sync.Map

func testTrustDir(t testing.TB) string {
	// Subtests are the same machine as their test.
	name, _, _ := strings.Cut(t.Name(), "/")
	if d, ok := trustDirs.Load(name); ok {
		return d.(string)
	}
	d := filepath.Join(t.TempDir(), "trust")
	trustDirs.Store(name, d)
	return d
}

func mustKeyrite(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := runKeyrite(t, args...)
	if code != 0 {
		t.Fatalf("keyrite %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// TestIntegrationSoftHSM is the spine end to end on real components: a
// SoftHSM2 root key, a live notary-server, and the notary and docker CLIs
// as independent judges of what keyrite published.
func TestIntegrationSoftHSM(t *testing.T) {
	h := testenv.NewSoftHSM(t, "ceremony")
	srv := testenv.StartNotaryServer(t)
	dir := t.TempDir()
	req, signed := filepath.Join(dir, "request"), filepath.Join(dir, "signed")
	guns := []string{"registry.example.com/org/app", "registry.example.com/org/web", "localhost:5000/team/api"}
	dev := "pkcs11:token=ceremony"

	var key session.KeyDescription
	if err := json.Unmarshal([]byte(mustKeyrite(t, "key", "generate", "--device", dev, "--label", "root",
		"--pin-file", h.PINFile, "--module", h.Module, "--json")), &key); err != nil {
		t.Fatal(err)
	}
	if key.Algorithm != "P-256" || len(key.CanonicalID) != 64 {
		t.Fatalf("generated key = %+v", key)
	}

	mustKeyrite(t, append([]string{"fetch", "--server", srv.URL, "--tls-ca", srv.CAFile, "-o", req}, guns...)...)

	var init ceremony.InitResult
	out := mustKeyrite(t, append([]string{"init", "--in", req, "-o", signed, "--root-key", dev + ";object=root",
		"--pin-file", h.PINFile, "--module", h.Module, "--json"}, guns...)...)
	if err := json.Unmarshal([]byte(out), &init); err != nil {
		t.Fatal(err)
	}
	// SoftHSM keeps keys in files: keyrite must flag the run as a rehearsal.
	if len(init.Repos) != 3 || !init.Rehearsal {
		t.Fatalf("init result = %+v", init)
	}
	// Per GUN: the certificate and root.json signed by the root key,
	// targets.json by the targets key and the new targets key's self-test;
	// then the seal, by the root key.
	if init.Signatures != 13 {
		t.Errorf("init made %d device signatures, want 13 (certificate, root.json, targets.json, self-test per GUN, and the seal)", init.Signatures)
	}
	for _, r := range init.Repos {
		if len(r.RootCanonicalIDs) != 1 || r.RootCanonicalIDs[0] != key.CanonicalID {
			t.Errorf("%s: root key %v, want the generated key %s", r.GUN, r.RootCanonicalIDs, key.CanonicalID)
		}
	}

	if out := mustKeyrite(t, "verify", signed); !strings.Contains(out, "verified: 3 repositories") {
		t.Errorf("verify output:\n%s", out)
	}
	mustKeyrite(t, "publish", "--server", srv.URL, "--tls-ca", srv.CAFile, signed)

	trustDir := filepath.Join(dir, "notary-trust")
	dockerCfg := filepath.Join(dir, "docker")
	for _, r := range init.Repos {
		if _, stderr, err := srv.NotaryCLI(trustDir, "list", r.GUN); err != nil {
			t.Errorf("notary list %s: %v\n%s", r.GUN, err, stderr)
		}
		// The notary CLI cached root on first use: that cache must hold
		// exactly our root key.
		cached, err := os.ReadFile(filepath.Join(trustDir, "tuf", r.GUN, "metadata", "root.json"))
		if err != nil {
			t.Fatalf("notary CLI cached no root for %s: %v", r.GUN, err)
		}
		if !strings.Contains(string(cached), r.RootKeyIDs[0]) {
			t.Errorf("notary CLI's cached root for %s does not hold key %s", r.GUN, r.RootKeyIDs[0])
		}
		pretty, err := srv.DockerTrustInspect(dockerCfg, r.GUN, true)
		if err != nil {
			t.Fatalf("docker trust inspect %s: %v\n%s", r.GUN, err, pretty)
		}
		rootKey, err := testenv.ParseDockerRootKey(pretty)
		if err != nil {
			t.Fatal(err)
		}
		if rootKey != r.RootKeyIDs[0] {
			t.Errorf("%s: docker shows Root Key %s, keyrite reported %s", r.GUN, rootKey, r.RootKeyIDs[0])
		}
		repoKey, err := testenv.ParseDockerRepositoryKey(pretty)
		if err != nil || repoKey != r.TargetsKeyID {
			t.Errorf("%s: docker shows Repository Key %q (%v), keyrite reported %s", r.GUN, repoKey, err, r.TargetsKeyID)
		}
	}

	// A second init of an existing GUN is refused, and writes nothing.
	req2, signed2 := filepath.Join(dir, "request2"), filepath.Join(dir, "signed2")
	mustKeyrite(t, "fetch", "--server", srv.URL, "--tls-ca", srv.CAFile, "-o", req2, guns[0])
	_, stderr, code := runKeyrite(t, "init", "--in", req2, "-o", signed2, "--root-key", dev+";object=root",
		"--pin-file", h.PINFile, "--module", h.Module, guns[0])
	if code != exitFailed || !strings.Contains(stderr, "already exists on the server (root version 1)") {
		t.Errorf("second init: exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(signed2); !os.IsNotExist(err) {
		t.Errorf("refused init left %s behind", signed2)
	}
}
