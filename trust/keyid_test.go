package trust

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// notaryFixture returns a file of notary's own compatibility fixtures,
// read from the module cache.
func notaryFixture(t *testing.T, rel string) []byte {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/theupdateframework/notary").Output()
	if err != nil {
		t.Fatalf("locating the notary module: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "fixtures", "compatibility", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The IDs in notary's fixture root.json were computed by notary 0.3; the
// root key's file name in its key store is its canonical ID. keyrite's key
// conversion must reproduce all of them.
func TestKeyIDsMatchNotaryFixtures(t *testing.T) {
	var root struct {
		Signed struct {
			Keys  map[string]data.TUFKey `json:"keys"`
			Roles map[string]struct {
				KeyIDs []string `json:"keyids"`
			} `json:"roles"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(notaryFixture(t, "notary0.3/tuf/docker.com/notary0.3/tst/metadata/root.json"), &root); err != nil {
		t.Fatal(err)
	}
	const rootCertID = "354e203ba09dbe17807b6a9d191bff887167c06d121e738d849446a9c76c2866"
	const rootCanonicalID = "f4eaf871a74aa3b3a0ff95cef2455a1e4d461639f5625418e76756fc5c948690" // private/root_keys/<ID>.key
	if got := root.Signed.Roles["root"].KeyIDs; len(got) != 1 || got[0] != rootCertID {
		t.Fatalf("fixture root keyids = %v", got)
	}
	for id, k := range root.Signed.Keys {
		pub := data.NewPublicKey(k.Algorithm(), k.Public())
		if pub.ID() != id {
			t.Errorf("key %s: computed ID %s", id, pub.ID())
		}
		var (
			bare data.PublicKey
			err  error
		)
		if k.Algorithm() == data.ECDSAx509Key {
			cert, cerr := utils.LoadCertFromPEM(k.Public())
			if cerr != nil {
				t.Fatal(cerr)
			}
			bare, err = PublicKey(cert.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			if bare.ID() != rootCanonicalID {
				t.Errorf("root certificate's bare key ID = %s, notary's key store says %s", bare.ID(), rootCanonicalID)
			}
			if c, _ := CanonicalID(pub); c != rootCanonicalID {
				t.Errorf("CanonicalID(root cert key) = %s, want %s", c, rootCanonicalID)
			}
			continue
		}
		// A bare ecdsa key rebuilt from its parsed public key keeps its ID.
		parsed, err := x509.ParsePKIXPublicKey(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		if bare, err = PublicKey(parsed); err != nil || bare.ID() != id {
			t.Errorf("key %s: rebuilt ID %v (%v)", id, bare, err)
		}
	}
}

// Metadata written by notary itself passes keyrite's format check, and
// keyrite's own output survives a decode/encode round trip byte for byte.
func TestCanonicalRoundTrip(t *testing.T) {
	for _, f := range []string{"root.json", "targets.json", "snapshot.json"} {
		if _, err := parseSigned(notaryFixture(t, "notary0.3/tuf/docker.com/notary0.3/tst/metadata/"+f)); err != nil {
			t.Errorf("notary 0.3's own %s: %v", f, err)
		}
	}
	r, _ := newRepo(t, "example.com/round/trip")
	for name, b := range map[string][]byte{"root": r.Root, "targets": r.Targets} {
		s, err := parseSigned(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		again, err := Marshal(s)
		if err != nil || string(again) != string(b) {
			t.Errorf("%s: round trip changed the bytes (%v)", name, err)
		}
	}
	var v map[string]any
	if err := json.Unmarshal(r.Root, &v); err != nil {
		t.Fatal(err)
	}
	reordered, _ := json.MarshalIndent(v, "", " ")
	if _, err := parseSigned(reordered); err == nil {
		t.Error("re-indented root.json was accepted as keyrite's canonical form")
	}
}
