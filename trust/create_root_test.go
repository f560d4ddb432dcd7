package trust

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
)

// signNewRoot makes the root notary's own Repo.SignRoot makes from the same
// new repository: the same signed bytes, signed by the same keys with the
// same methods, each signature valid; for one root key and for two with
// threshold 1 and 2.
func TestSignNewRootIsNotarys(t *testing.T) {
	ts, ss := serverKey(t), serverKey(t)
	for _, c := range []struct{ keys, threshold int }{{1, 1}, {2, 1}, {2, 2}} {
		t.Run(fmt.Sprintf("%d-of-%d", c.threshold, c.keys), func(t *testing.T) {
			ks := NewKeyService()
			gun := "registry.example.com/org/app"
			now := time.Now()
			var rootKeys []data.PublicKey
			for range c.keys {
				k := crypto.Signer(newKey(t))
				_, pub, err := ks.Certify(k, gun, now.Add(-time.Minute), now.Add(DefaultRootExpiry), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ks.Add(k, data.CanonicalRootRole); err != nil {
					t.Fatal(err)
				}
				rootKeys = append(rootKeys, pub)
			}
			targets, err := ks.Add(newKey(t), data.CanonicalTargetsRole)
			if err != nil {
				t.Fatal(err)
			}
			repos := [2]*tuf.Repo{tuf.NewRepo(ks), tuf.NewRepo(ks)}
			for _, r := range repos {
				if err := r.InitRoot(data.NewBaseRole(data.CanonicalRootRole, c.threshold, rootKeys...),
					data.NewBaseRole(data.CanonicalTimestampRole, 1, ts), data.NewBaseRole(data.CanonicalSnapshotRole, 1, ss),
					data.NewBaseRole(data.CanonicalTargetsRole, 1, targets), false); err != nil {
					t.Fatal(err)
				}
			}
			// InitRoot lists a role's keys in map order: both start from
			// the same root.
			b, err := repos[0].Root.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			repos[1].Root = &data.SignedRoot{}
			if err := json.Unmarshal(b, repos[1].Root); err != nil {
				t.Fatal(err)
			}
			expires := now.Add(DefaultRootExpiry).UTC()
			want, err := repos[0].SignRoot(expires, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := signNewRoot(ks, repos[1], expires)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(*got.Signed, *want.Signed) {
				t.Fatalf("signed part differs:\n%s\nnotary's:\n%s", *got.Signed, *want.Signed)
			}
			if len(got.Signatures) != len(want.Signatures) || len(got.Signatures) != c.keys {
				t.Fatalf("%d signatures, notary's %d, want %d", len(got.Signatures), len(want.Signatures), c.keys)
			}
			methods := map[string]data.SigAlgorithm{}
			for _, s := range want.Signatures {
				methods[s.KeyID] = s.Method
			}
			for _, s := range got.Signatures {
				if m, ok := methods[s.KeyID]; !ok || m != s.Method {
					t.Errorf("signature by %s (%s) is not among notary's %v", s.KeyID, s.Method, methods)
				}
			}
			role, err := repos[0].GetBaseRole(data.CanonicalRootRole)
			if err != nil {
				t.Fatal(err)
			}
			if err := signed.VerifySignatures(got, role); err != nil {
				t.Fatalf("the root's signatures: %v", err)
			}
			for _, s := range got.Signatures {
				if !s.IsValid {
					t.Errorf("signature by %s does not verify", s.KeyID)
				}
			}
			if _, err := signNewRoot(ks, repos[1], expires); err == nil {
				t.Error("signNewRoot signed a root that is not new")
			}
		})
	}
}
