package trust

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
)

// notaryFixtures are the signed metadata notary ships as compatibility
// fixtures (written by notary 0.1 and 0.3), from the module go.mod selects.
func notaryFixtures(t *testing.T) []string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/theupdateframework/notary").Output()
	if err != nil {
		t.Fatalf("go list notary: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "fixtures", "compatibility")
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".json") && strings.Contains(p, "/metadata/") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 8 {
		t.Fatalf("notary's fixtures not found under %s (%d files)", dir, len(files))
	}
	return files
}

// The patched canonical/json (third_party/docker-go: its type-field cache
// now kept) encodes notary's fixtures exactly as notary signed them: each
// file's "signed" part, decoded into notary's typed metadata and encoded
// canonically again — the first time (fields computed) and the second
// (fields from the cache) — gives the same bytes as the generic canonical
// form, and root.json's signatures verify over those bytes.
func TestCanonicalEncodingUnchangedOnNotaryFixtures(t *testing.T) {
	for _, p := range notaryFixtures(t) {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var s data.Signed
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		var generic any
		if err := json.Unmarshal(*s.Signed, &generic); err != nil {
			t.Fatal(err)
		}
		want, err := json.MarshalCanonical(generic)
		if err != nil {
			t.Fatal(err)
		}
		for round := range 2 {
			var typed any
			switch base := filepath.Base(p); {
			case base == "root.json":
				typed, err = data.RootFromSigned(&s)
			case base == "snapshot.json":
				typed, err = data.SnapshotFromSigned(&s)
			case base == "timestamp.json":
				typed, err = data.TimestampFromSigned(&s)
			case base == "targets.json":
				typed, err = data.TargetsFromSigned(&s, data.CanonicalTargetsRole)
			default: // a delegation, targets/NAME.json
				typed, err = data.TargetsFromSigned(&s, data.RoleName("targets/"+strings.TrimSuffix(base, ".json")))
			}
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			var got []byte
			switch v := typed.(type) {
			case *data.SignedRoot:
				got, err = json.MarshalCanonical(v.Signed)
			case *data.SignedSnapshot:
				got, err = json.MarshalCanonical(v.Signed)
			case *data.SignedTimestamp:
				got, err = json.MarshalCanonical(v.Signed)
			case *data.SignedTargets:
				got, err = json.MarshalCanonical(v.Signed)
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s, round %d: canonical encoding differs (%v)\n got %s\nwant %s", p, round, err, got, want)
			}
		}
		if filepath.Base(p) == "root.json" {
			root, err := data.RootFromSigned(&s)
			if err != nil {
				t.Fatal(err)
			}
			role, err := root.BuildBaseRole(data.CanonicalRootRole)
			if err != nil {
				t.Fatal(err)
			}
			if err := signed.VerifySignatures(&s, role); err != nil {
				t.Errorf("%s: root signatures do not verify over the canonical bytes: %v", p, err)
			}
		}
	}
}
