package trust

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
)

// ChainError is a root that does not chain from the one this machine
// trusts: the online machine may be forging it.
type ChainError struct {
	GUN     string
	Version int // the version where the chain breaks
	Reason  string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("%s: the root chain breaks at version %d: %s", e.GUN, e.Version, e.Reason)
}

// RootVersion parses a root.json far enough to read its version.
func RootVersion(b []byte) (int, error) {
	var s struct {
		Signed struct {
			Type    string `json:"_type"`
			Version int    `json:"version"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return 0, err
	}
	if s.Signed.Type != data.TUFTypes[data.CanonicalRootRole] || s.Signed.Version < 1 {
		return 0, fmt.Errorf("not a root (type %q, version %d)", s.Signed.Type, s.Signed.Version)
	}
	return s.Signed.Version, nil
}

// WalkRoots establishes the current root of a GUN from the root this
// machine trusts (pinned), as a notary client that cached pinned walks
// {v}.root.json: every version from pinned's + 1 up to current's, each
// signed by a threshold of the previous root's keys and of its own
// (notary's trustpinning.ValidateRoot), and each exactly one version
// above the one before. version(v) returns the root of version v that the
// request carries, nil when it has none. Expired roots are accepted (an
// expiring root is what a refresh is for); a root older than the pin,
// a gap, a different root of the pinned version, or a root that does not
// validate against its predecessor is a *ChainError naming the version.
func WalkRoots(gun string, pinned []byte, version func(v int) []byte, current []byte) (*data.SignedRoot, error) {
	fail := func(v int, format string, a ...any) error {
		return &ChainError{GUN: gun, Version: v, Reason: fmt.Sprintf(format, a...)}
	}
	pv, err := RootVersion(pinned)
	if err != nil {
		return nil, fmt.Errorf("%s: the pinned root: %w", gun, err)
	}
	cv, err := RootVersion(current)
	if err != nil {
		return nil, fail(0, "the current root.json is not a root: %v", err)
	}
	prev, err := validateRoot(gun, nil, pinned)
	if err != nil {
		return nil, fmt.Errorf("%s: the pinned root no longer validates: %w", gun, err)
	}
	switch {
	case cv < pv:
		return nil, fail(cv, "the server's root is version %d, older than version %d trusted here: a rollback", cv, pv)
	case cv == pv:
		if !sameRoot(pinned, current) {
			return nil, fail(cv, "the server's root version %d is not the version %d trusted here", cv, pv)
		}
		return prev, nil
	}
	if version == nil {
		version = func(int) []byte { return nil }
	}
	for v := pv + 1; v <= cv; v++ {
		raw := version(v)
		if v == cv {
			if raw != nil && !sameRoot(raw, current) {
				return nil, fail(v, "%d.root.json and root.json differ", v)
			}
			raw = current
		}
		if raw == nil {
			return nil, fail(v, "the request bundle does not carry %d.root.json (fetch again with this keyrite)", v)
		}
		got, err := RootVersion(raw)
		if err != nil {
			return nil, fail(v, "%v", err)
		}
		if got != v {
			return nil, fail(v, "%d.root.json holds version %d", v, got)
		}
		next, err := validateRoot(gun, prev, raw)
		if err != nil {
			return nil, fail(v, "%v", err)
		}
		prev = next
	}
	return prev, nil
}

// validateRoot is notary's own check of a root against the previous one
// (nil: against itself only, as on first use).
func validateRoot(gun string, prev *data.SignedRoot, raw []byte) (*data.SignedRoot, error) {
	var s data.Signed
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	root, err := trustpinning.ValidateRoot(prev, &s, data.GUN(gun), trustpinning.TrustPinConfig{})
	if err != nil {
		return nil, fmt.Errorf("notary rejects it: %v", err)
	}
	if err := DistinctRootKeys(root); err != nil {
		return nil, err
	}
	return root, nil
}

// sameRoot compares two encodings of a root by their signed part and
// signatures, so that whitespace does not matter but content does.
func sameRoot(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	ca, err1 := canonicalOf(a)
	cb, err2 := canonicalOf(b)
	return err1 == nil && err2 == nil && bytes.Equal(ca, cb)
}

func canonicalOf(b []byte) ([]byte, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return json.MarshalCanonical(v)
}

// DistinctRootKeys refuses a root whose root role names the same public key
// twice (two certificates of one key, or one key under two IDs): notary
// counts signatures per key ID, so such a root would let one key meet a
// threshold meant for several.
func DistinctRootKeys(root *data.SignedRoot) error {
	keys, _, err := RoleKeys(root, data.CanonicalRootRole)
	if err != nil {
		return err
	}
	return DistinctKeys(keys)
}

// DuplicateKeyError is one public key given where distinct keys are
// needed.
type DuplicateKeyError struct {
	KeyID string   // canonical (bare public key) ID
	Twice []string // the two IDs it appears under
}

func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("public key %s appears as %s: thresholds count distinct public keys, so one key cannot count twice", ShortID(e.KeyID), ListIDs(e.Twice, true))
}

// DistinctKeys refuses a list in which two entries are the same public key.
func DistinctKeys(keys []data.PublicKey) error {
	seen := map[string]string{}
	for _, k := range keys {
		c, err := CanonicalID(k)
		if err != nil {
			return err
		}
		if first, ok := seen[c]; ok {
			return &DuplicateKeyError{KeyID: c, Twice: []string{first, k.ID()}}
		}
		seen[c] = k.ID()
	}
	return nil
}

// ChangedRoles lists the base roles whose keys or threshold differ between
// two roots.
func ChangedRoles(old, new *data.SignedRoot) []data.RoleName {
	var out []data.RoleName
	for _, role := range data.BaseRoles {
		o, n := old.Signed.Roles[role], new.Signed.Roles[role]
		if (o == nil) != (n == nil) {
			out = append(out, role)
			continue
		}
		if o == nil {
			continue
		}
		a, b := append([]string(nil), o.KeyIDs...), append([]string(nil), n.KeyIDs...)
		sort.Strings(a)
		sort.Strings(b)
		if o.Threshold != n.Threshold || strings.Join(a, ",") != strings.Join(b, ",") {
			out = append(out, role)
		}
	}
	return out
}

// ForeignSignatures lists the key IDs of signatures on raw metadata that no
// key of the allowed roles made a claim to: a signature by a key the
// metadata cannot name is an alteration, never a missing signature.
func ForeignSignatures(d *Decoded, raw []byte, allowed ...data.BaseRole) ([]string, error) {
	s, err := d.Signed(raw)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, sig := range s.Signatures {
		known := false
		for _, r := range allowed {
			if _, ok := r.Keys[sig.KeyID]; ok {
				known = true
				break
			}
		}
		if !known {
			out = append(out, sig.KeyID)
		}
	}
	return out, nil
}

// VerifyRoleSigned checks that raw metadata of a base role is signed by a
// threshold of that role's keys in root (a trusted root): metadata from a
// request bundle is used only then. Expiry is not checked.
func VerifyRoleSigned(gun string, raw []byte, root *data.SignedRoot, role data.RoleName) error {
	fail := func(format string, a ...any) error {
		return &VerifyError{GUN: gun, Role: role.String(), Reason: "current metadata from the request bundle: " + fmt.Sprintf(format, a...)}
	}
	if raw == nil {
		return fail("missing")
	}
	var s data.Signed
	if err := json.Unmarshal(raw, &s); err != nil {
		return fail("not valid JSON: %v", err)
	}
	br, err := root.BuildBaseRole(role)
	if err != nil {
		return fail("%v", err)
	}
	if err := signed.VerifySignatures(&s, br); err != nil {
		return fail("not signed by the trusted root's %s keys: %v", role, err)
	}
	return nil
}

// ValidateFirstUse checks a root no pin vouches for as notary does on
// first use: its own certificates for the GUN, threshold and signatures.
func ValidateFirstUse(gun string, raw []byte) (*data.SignedRoot, error) {
	root, err := validateRoot(gun, nil, raw)
	if err != nil {
		return nil, &VerifyError{GUN: gun, Role: "root", Reason: "current metadata from the request bundle: " + err.Error()}
	}
	return root, nil
}
