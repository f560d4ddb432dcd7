package trust

import (
	"fmt"
	"time"

	"github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
)

// Current is a repository's metadata as the server had it when the request
// bundle was fetched, checked with notary's client code.
type Current struct {
	GUN     string
	Root    *data.SignedRoot
	Targets *data.SignedTargets
	Raw     map[string][]byte // role -> bytes as fetched
}

// LoadCurrent parses and checks the current root (its own certificates and
// threshold, as a client with no prior trust checks it) and targets
// (signed by the root's targets role). Expired metadata is accepted: an
// expiring root is exactly what a refresh is for.
func LoadCurrent(gun string, root, targets []byte) (*Current, error) {
	var rs data.Signed
	if err := json.Unmarshal(root, &rs); err != nil {
		return nil, &VerifyError{GUN: gun, Role: "root", Reason: "current metadata from the request bundle: not valid JSON: " + err.Error()}
	}
	sr, err := trustpinning.ValidateRoot(nil, &rs, data.GUN(gun), trustpinning.TrustPinConfig{})
	if err != nil {
		return nil, &VerifyError{GUN: gun, Role: "root", Reason: "current metadata from the request bundle: notary rejects it: " + err.Error()}
	}
	return LoadCurrentTrusted(gun, sr, root, targets)
}

// LoadCurrentTrusted is LoadCurrent with a root already established (by
// walking the chain from a pin): targets is checked against it.
func LoadCurrentTrusted(gun string, sr *data.SignedRoot, root, targets []byte) (*Current, error) {
	fail := func(role, format string, a ...any) error {
		return &VerifyError{GUN: gun, Role: role, Reason: "current metadata from the request bundle: " + fmt.Sprintf(format, a...)}
	}
	c := &Current{GUN: gun, Root: sr, Raw: map[string][]byte{"root": root}}
	if targets == nil {
		return nil, fail("targets", "missing")
	}
	var ts data.Signed
	if err := json.Unmarshal(targets, &ts); err != nil {
		return nil, fail("targets", "not valid JSON: %v", err)
	}
	role, err := sr.BuildBaseRole(data.CanonicalTargetsRole)
	if err != nil {
		return nil, fail("root", "%v", err)
	}
	if err := signed.VerifySignatures(&ts, role); err != nil {
		return nil, fail("targets", "signatures: %v", err)
	}
	if c.Targets, err = data.TargetsFromSigned(&ts, data.CanonicalTargetsRole); err != nil {
		return nil, fail("targets", "%v", err)
	}
	c.Raw["targets"] = targets
	return c, nil
}

// cloneRoot deep-copies a root through JSON so that edits never reach the
// current one.
func cloneRoot(r *data.SignedRoot) (*data.SignedRoot, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var out data.SignedRoot
	return &out, json.Unmarshal(b, &out)
}

func cloneTargets(t *data.SignedTargets) (*data.SignedTargets, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	var out data.SignedTargets
	return &out, json.Unmarshal(b, &out)
}

// NextRoot returns a copy of the current root with the version raised by
// one and a new expiry, without signatures.
func (c *Current) NextRoot(expires time.Time) (*data.SignedRoot, error) {
	r, err := cloneRoot(c.Root)
	if err != nil {
		return nil, err
	}
	r.Signed.Version++
	r.Signed.Expires = expires.UTC()
	r.Signatures = nil
	return r, nil
}

// NextTargets returns a copy of the current targets with the version raised
// by one, without signatures; a zero expiry keeps the current one.
func (c *Current) NextTargets(expires time.Time) (*data.SignedTargets, error) {
	t, err := cloneTargets(c.Targets)
	if err != nil {
		return nil, err
	}
	t.Signed.Version++
	if !expires.IsZero() {
		t.Signed.Expires = expires.UTC()
	}
	t.Signatures = nil
	return t, nil
}

// RoleKeys returns the keys of a base role of a root.
func RoleKeys(r *data.SignedRoot, role data.RoleName) ([]data.PublicKey, int, error) {
	br, err := r.BuildBaseRole(role)
	if err != nil {
		return nil, 0, err
	}
	var out []data.PublicKey
	for _, id := range br.ListKeyIDs() {
		out = append(out, br.Keys[id])
	}
	return out, br.Threshold, nil
}

// SetRootRole replaces the keys and threshold of a base role in a root.
func SetRootRole(r *data.SignedRoot, role data.RoleName, keys []data.PublicKey, threshold int) {
	old := r.Signed.Roles[role]
	r.Signed.Roles[role] = &data.RootRole{KeyIDs: nil, Threshold: threshold}
	for _, k := range keys {
		r.Signed.Keys[k.ID()] = k
		r.Signed.Roles[role].KeyIDs = append(r.Signed.Roles[role].KeyIDs, k.ID())
	}
	// Drop keys no role uses any more, as notary does.
	if old != nil {
		used := map[string]bool{}
		for _, rr := range r.Signed.Roles {
			for _, id := range rr.KeyIDs {
				used[id] = true
			}
		}
		for _, id := range old.KeyIDs {
			if !used[id] {
				delete(r.Signed.Keys, id)
			}
		}
	}
}

// AddSignatures signs s with every key of allowed that ks holds, keeping
// existing valid signatures by allowed keys: holders of a threshold sign
// one after another.
func AddSignatures(ks *KeyService, s *data.Signed, allowed []data.PublicKey) error {
	return signed.Sign(ks, s, allowed, 0, allowed)
}

// SignedRootBytes and SignedTargetsBytes encode edited metadata, signed
// with the allowed keys ks holds.
func SignedRootBytes(ks *KeyService, r *data.SignedRoot, allowed []data.PublicKey) ([]byte, error) {
	s, err := r.ToSigned()
	if err != nil {
		return nil, err
	}
	if err := AddSignatures(ks, s, allowed); err != nil {
		return nil, err
	}
	return Marshal(s)
}

// SignedTargetsBytes: see SignedRootBytes.
func SignedTargetsBytes(ks *KeyService, t *data.SignedTargets, allowed []data.PublicKey) ([]byte, error) {
	s, err := t.ToSigned()
	if err != nil {
		return nil, err
	}
	if err := AddSignatures(ks, s, allowed); err != nil {
		return nil, err
	}
	return Marshal(s)
}

// Resign adds signatures from ks to already encoded metadata.
func Resign(ks *KeyService, b []byte, allowed []data.PublicKey) ([]byte, error) {
	var s data.Signed
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if err := AddSignatures(ks, &s, allowed); err != nil {
		return nil, err
	}
	return Marshal(&s)
}
