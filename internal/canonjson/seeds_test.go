package canonjson_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/go/canonical/json"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// reference is the check Canonical replaces: decode into an `any` with
// docker/go's canonical json (the patched copy go.mod's replace selects),
// encode canonically, compare bytes.
func reference(b []byte) bool {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return false
	}
	again, err := json.MarshalCanonical(v)
	return err == nil && bytes.Equal(again, b)
}

// sample is a named input.
type sample struct {
	name string
	b    []byte
}

// notaryFiles are every JSON file in the notary module go.mod selects:
// the compatibility fixtures notary 0.1 and 0.3 signed, and its configs.
func notaryFiles(tb testing.TB) []sample {
	tb.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/theupdateframework/notary").Output()
	if err != nil {
		tb.Fatalf("locating the notary module: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	var got []sample
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		got = append(got, sample{strings.TrimPrefix(p, dir+"/"), b})
		return nil
	})
	if len(got) < 8 {
		tb.Fatalf("notary's JSON files not found under %s (%d)", dir, len(got))
	}
	return got
}

// keyriteRepo is the root.json and targets.json keyrite writes for a new
// repository (trust.CreateRepository, software keys, two root keys).
func keyriteRepo(tb testing.TB) (root, targets []byte) {
	tb.Helper()
	ecKey := func() crypto.Signer {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	edKey := func() data.PublicKey {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		return data.NewED25519PublicKey(pub)
	}
	now := time.Now()
	spec := trust.NewRepoSpec{GUN: "registry.example.com/org/app", RootKeys: []crypto.Signer{ecKey(), ecKey()},
		TargetsKey: ecKey(), Timestamp: edKey(), Snapshot: edKey(), Now: now,
		RootExpires: now.Add(trust.DefaultRootExpiry), TargetsExpiry: now.Add(trust.DefaultTargetsExpiry), Rand: rand.Reader}
	r, err := trust.CreateRepository(trust.NewKeyService(), spec)
	if err != nil {
		tb.Fatal(err)
	}
	return r.Root, r.Targets
}

// signedPart is the "signed" member of a metadata file, as its bytes.
func signedPart(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var s data.Signed
	if err := json.Unmarshal(b, &s); err != nil || s.Signed == nil {
		tb.Fatalf("not signed metadata (%v): %.80s", err, b)
	}
	return *s.Signed
}

// metadata are the signed files among notary's and keyrite's, and their
// signed parts: what verify checks.
func metadata(tb testing.TB) []sample {
	tb.Helper()
	root, targets := keyriteRepo(tb)
	files := []sample{{"keyrite root.json", root}, {"keyrite targets.json", targets}}
	for _, f := range notaryFiles(tb) {
		if strings.Contains(f.name, "/metadata/") {
			files = append(files, f)
		}
	}
	var got []sample
	for _, f := range files {
		got = append(got, f, sample{f.name + " signed", signedPart(tb, f.b)})
	}
	return got
}
