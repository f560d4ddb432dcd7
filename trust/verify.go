package trust

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/go/canonical/json"
	"github.com/keyrite/keyrite/internal/canonjson"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/utils"
)

// VerifyError says what failed verification, and where.
type VerifyError struct {
	GUN    string
	Role   string
	Reason string
}

func (e *VerifyError) Error() string {
	if e.Role == "" {
		return fmt.Sprintf("%s: %s", e.GUN, e.Reason)
	}
	return fmt.Sprintf("%s: %s: %s", e.GUN, e.Role, e.Reason)
}

// RoleReport says who signed a piece of metadata and whether it counts.
type RoleReport struct {
	Role         string    `json:"role"`
	Version      int       `json:"version"`
	Expires      time.Time `json:"expires"`
	Threshold    int       `json:"threshold"`
	KeyIDs       []string  `json:"key_ids"`
	SignedBy     []string  `json:"signed_by"`
	ThresholdMet bool      `json:"threshold_met"`
}

// CertReport describes one root certificate.
type CertReport struct {
	KeyID       string    `json:"key_id"`
	CanonicalID string    `json:"canonical_id"`
	CommonName  string    `json:"common_name"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
}

// RepoReport is the result of verifying one repository's metadata.
type RepoReport struct {
	GUN            string       `json:"gun"`
	Roles          []RoleReport `json:"roles"`
	RootCerts      []CertReport `json:"root_certificates"`
	TimestampKeyID string       `json:"timestamp_key_id"`
	SnapshotKeyID  string       `json:"snapshot_key_id"`
	TargetsKeyIDs  []string     `json:"targets_key_ids"`
}

// VerifyInput is what VerifyRepository checks.
type VerifyInput struct {
	GUN       string
	Root      []byte
	PrevRoot  []byte         // the root this one replaces; nil for a new repository
	Targets   []byte         // nil when there is no targets to check
	Timestamp data.PublicKey // expected server keys; nil skips the check
	Snapshot  data.PublicKey
	Now       time.Time
	// Decoded, when set, is shared by every check of one verification:
	// each file is decoded once.
	Decoded *Decoded
}

// Complete reports whether every role's threshold is met.
func (r *RepoReport) Complete() bool {
	for _, rr := range r.Roles {
		if !rr.ThresholdMet {
			return false
		}
	}
	return true
}

// VerifyRepository checks a repository's root and targets offline, with
// notary's own building blocks (signed.VerifySignature for every
// signature, utils.ValidateCertificate, MatchCNToGun) and, for a root that
// replaces another, trustpinning.ValidateRoot, after clearer checks of our
// own. A role whose threshold is not met yet is reported, not an error:
// holders of a threshold sign one after another. A signature that does
// not verify is always an error.
func VerifyRepository(in VerifyInput) (*RepoReport, error) {
	if err := ValidateGUN(in.GUN); err != nil {
		return nil, failer(in.GUN)("", "%v", err)
	}
	rootSigned, root, err := parseRoot(in)
	if err != nil {
		return nil, err
	}
	rep := &RepoReport{GUN: in.GUN}
	rootRole, err := checkRootCerts(rep, in, root)
	if err != nil {
		return nil, err
	}
	if err := checkRootSignatures(rep, in, rootSigned, root, rootRole); err != nil {
		return rep, err
	}
	if err := checkServerKeys(rep, in, root); err != nil {
		return rep, err
	}
	if err := checkTargets(rep, in, root); err != nil {
		return rep, err
	}
	return rep, nil
}

// failer makes the VerifyErrors of one repository.
func failer(gun string) func(role, format string, a ...any) error {
	return func(role, format string, a ...any) error {
		return &VerifyError{GUN: gun, Role: role, Reason: fmt.Sprintf(format, a...)}
	}
}

// parseRoot reads root.json in canonical form and checks its version and
// expiry.
func parseRoot(in VerifyInput) (*data.Signed, *data.SignedRoot, error) {
	fail := failer(in.GUN)
	if _, err := in.Decoded.Canonical(in.Root); err != nil {
		return nil, nil, fail("root", "%v", err)
	}
	rootSigned, root, err := in.Decoded.Root(in.Root)
	if err != nil {
		return nil, nil, fail("root", "invalid root metadata: %v", err)
	}
	if root.Signed.Version < 1 {
		return nil, nil, fail("root", "version %d is below 1", root.Signed.Version)
	}
	if signed.IsExpired(root.Signed.Expires) {
		return nil, nil, fail("root", "expired on %s", root.Signed.Expires.Format(time.RFC3339))
	}
	return rootSigned, root, nil
}

// checkRootCerts checks every root key's certificate and adds it to the
// report.
func checkRootCerts(rep *RepoReport, in VerifyInput, root *data.SignedRoot) (data.BaseRole, error) {
	fail := failer(in.GUN)
	rootRole, err := root.BuildBaseRole(data.CanonicalRootRole)
	if err != nil {
		return rootRole, fail("root", "root role: %v", err)
	}
	if err := DistinctRootKeys(root); err != nil {
		return rootRole, fail("root", "%v", err)
	}
	for _, id := range rootRole.ListKeyIDs() {
		c, err := checkRootCert(rootRole.Keys[id], in.GUN, in.Now)
		if err != nil {
			return rootRole, fail("root", "certificate %s: %v", ShortID(id), err)
		}
		rep.RootCerts = append(rep.RootCerts, *c)
	}
	return rootRole, nil
}

// checkRootSignatures reports who signed root, with its own keys and, when
// it replaces a root, with the previous root's keys; once every threshold
// is met, notary's ValidateRoot has the last word.
func checkRootSignatures(rep *RepoReport, in VerifyInput, rootSigned *data.Signed, root *data.SignedRoot, rootRole data.BaseRole) error {
	fail := failer(in.GUN)
	rr, bad := signers(rootSigned, rootRole, "root", root.Signed.Version, root.Signed.Expires)
	if bad != "" {
		return fail("root", "the signature by root key %s does not verify", ShortID(bad))
	}
	rep.Roles = append(rep.Roles, rr)
	prev, err := checkRootRotation(rep, in, rootSigned, root, rr)
	if err != nil {
		return err
	}
	// A rotation also gets notary's own verdict, as a client that trusted
	// the previous root reaches it: which of the old certificates count is
	// notary's rule. A new root's verdict is the checks above, which refuse
	// everything ValidateRoot does for one (TestVerifyAgreesWithNotary:
	// the same certificate rules, through notary's own ValidateCertificate,
	// and the same signatures, through notary's VerifySignature) at a
	// fraction of the cost: ValidateRoot decodes the root twice more.
	if rep.Complete() && prev != nil {
		if _, err := trustpinning.ValidateRoot(prev, rootSigned, data.GUN(in.GUN), trustpinning.TrustPinConfig{}); err != nil {
			return fail("root", "notary rejects the root: %v", err)
		}
	}
	return nil
}

// checkRootRotation checks a root that replaces in.PrevRoot: the next
// version, signed by the previous root's keys too. It returns the previous
// root, nil for a new repository. rr is root's own report, the last in
// rep.Roles.
func checkRootRotation(rep *RepoReport, in VerifyInput, rootSigned *data.Signed, root *data.SignedRoot, rr RoleReport) (*data.SignedRoot, error) {
	if in.PrevRoot == nil {
		return nil, nil
	}
	fail := failer(in.GUN)
	_, prev, err := in.Decoded.Root(in.PrevRoot)
	if err != nil {
		return nil, fail("root", "previous root: %v", err)
	}
	if root.Signed.Version != prev.Signed.Version+1 {
		return nil, fail("root", "version %d does not follow the current version %d: clients that cached a root walk every version", root.Signed.Version, prev.Signed.Version)
	}
	prevRole, err := prev.BuildBaseRole(data.CanonicalRootRole)
	if err != nil {
		return nil, fail("root", "previous root: %v", err)
	}
	// Clients check the old keys' signatures with the certificates of
	// the root they trust, whatever their expiry.
	pr, bad := signers(rootSigned, prevRole, "root (previous keys)", prev.Signed.Version, prev.Signed.Expires)
	if bad != "" {
		return nil, fail("root", "the signature by previous root key %s does not verify", ShortID(bad))
	}
	if !slices.Equal(pr.KeyIDs, rr.KeyIDs) || pr.Threshold != rr.Threshold {
		rep.Roles = append(rep.Roles, pr)
	} else if !pr.ThresholdMet {
		rep.Roles[len(rep.Roles)-1].ThresholdMet = false
	}
	return prev, nil
}

// checkServerKeys reports root's timestamp and snapshot keys and, when the
// request bundle gave the server's keys, insists on them.
func checkServerKeys(rep *RepoReport, in VerifyInput, root *data.SignedRoot) error {
	fail := failer(in.GUN)
	for _, r := range []struct {
		name     data.RoleName
		expected data.PublicKey
		id       *string
	}{{data.CanonicalTimestampRole, in.Timestamp, &rep.TimestampKeyID}, {data.CanonicalSnapshotRole, in.Snapshot, &rep.SnapshotKeyID}} {
		role, err := root.BuildBaseRole(r.name)
		if err != nil {
			return fail("root", "%s role: %v", r.name, err)
		}
		ids := role.ListKeyIDs()
		if len(ids) == 1 {
			*r.id = ids[0]
		}
		if r.expected != nil && (len(ids) != 1 || ids[0] != r.expected.ID()) {
			return fail("root", "%s key %s is not the server's key %s from the request bundle", r.name, ListIDs(ids, true), ShortID(r.expected.ID()))
		}
	}
	return nil
}

// checkTargets reports root's targets keys and, when there is a targets
// file, who signed it; once its threshold is met, notary's
// VerifySignatures has the last word.
func checkTargets(rep *RepoReport, in VerifyInput, root *data.SignedRoot) error {
	fail := failer(in.GUN)
	targetsRole, err := root.BuildBaseRole(data.CanonicalTargetsRole)
	if err != nil {
		return fail("root", "targets role: %v", err)
	}
	rep.TargetsKeyIDs = targetsRole.ListKeyIDs()
	if in.Targets == nil {
		return nil
	}
	ts, targets, err := parseTargets(in)
	if err != nil {
		return err
	}
	tr, bad := signers(ts, targetsRole, "targets", targets.Signed.Version, targets.Signed.Expires)
	if bad != "" {
		return fail("targets", "the signature by targets key %s does not verify", ShortID(bad))
	}
	// signers counts what notary's VerifySignatures counts, each signature
	// through notary's VerifySignature, and refuses a bad one outright.
	rep.Roles = append(rep.Roles, tr)
	return nil
}

// parseTargets reads targets.json in canonical form and checks what
// notary clients need of it besides signatures: a delegations object, no
// expiry, and every delegation's keys among the delegations' keys.
func parseTargets(in VerifyInput) (*data.Signed, *data.SignedTargets, error) {
	fail := failer(in.GUN)
	ts, err := in.Decoded.Canonical(in.Targets)
	if err != nil {
		return nil, nil, fail("targets", "%v", err)
	}
	targets, err := data.TargetsFromSigned(ts, data.CanonicalTargetsRole)
	if err != nil {
		return nil, nil, fail("targets", "invalid targets metadata: %v", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(*ts.Signed, &raw); err != nil || raw["delegations"] == nil {
		return nil, nil, fail("targets", "no delegations object (notary clients require one)")
	}
	if signed.IsExpired(targets.Signed.Expires) {
		return nil, nil, fail("targets", "expired on %s", targets.Signed.Expires.Format(time.RFC3339))
	}
	for _, d := range targets.Signed.Delegations.Roles {
		for _, id := range d.KeyIDs {
			if _, ok := targets.Signed.Delegations.Keys[id]; !ok {
				return nil, nil, fail("targets", "delegation %s names key %s that is not in the delegations", d.Name, ShortID(id))
			}
		}
	}
	return ts, targets, nil
}

// parseSigned reads a metadata file and insists on the one serialization
// notary uses (see Marshal) with a canonical "signed" part, so that what is
// verified here is byte for byte what is uploaded.
func parseSigned(b []byte) (*data.Signed, error) {
	return (*Decoded)(nil).Canonical(b)
}

func errNotJSON(err error) error { return fmt.Errorf("not valid JSON: %v", err) }

// checkCanonical is parseSigned's slow path for s, decoded from b: the
// fast one (canonjson.ParseSigned) takes what notary and keyrite write.
func checkCanonical(s *data.Signed, b []byte) error {
	if s.Signed == nil {
		return fmt.Errorf("no signed part")
	}
	// The envelope's encoder writes <, >, &, U+2028 and U+2029 in the
	// signed part as \u escapes; notary signs the canonical form, with
	// them as they are. That form is the message: s holds it from here.
	if canon, ok := canonjson.UnescapeEnvelope(*s.Signed); ok {
		raw := json.RawMessage(canon)
		s.Signed = &raw
	}
	// canonjson.Canonical answers exactly as decoding the signed part and
	// encoding it canonically again would, without doing either; the
	// envelope encoded again must be the file, escapes included.
	again, err := Marshal(s)
	if err != nil {
		return err
	}
	if !canonjson.Canonical(*s.Signed) || !bytes.Equal(again, b) {
		return fmt.Errorf("not in canonical form (the file was edited or not written by keyrite or notary)")
	}
	return nil
}

// signers checks each signature on its own so the report can say who
// signed, not only whether the threshold holds. s must come from
// parseSigned.
func signers(s *data.Signed, role data.BaseRole, name string, version int, expires time.Time) (RoleReport, string) {
	rr := RoleReport{Role: name, Version: version, Expires: expires.UTC(), Threshold: role.Threshold, KeyIDs: role.ListKeyIDs()}
	sort.Strings(rr.KeyIDs)
	// Every caller's s comes from parseSigned, which proved its signed
	// part is already the canonical encoding of itself: that is the
	// message, with no second decode and re-encode.
	msg := []byte(*s.Signed)
	bad := ""
	seen := map[string]bool{}
	for i := range s.Signatures {
		sig := s.Signatures[i]
		k, ok := role.Keys[sig.KeyID]
		if !ok || seen[sig.KeyID] || k.ID() != sig.KeyID {
			continue
		}
		if signed.VerifySignature(msg, &sig, k) != nil {
			bad = sig.KeyID
			continue
		}
		seen[sig.KeyID] = true
		rr.SignedBy = append(rr.SignedBy, sig.KeyID)
	}
	sort.Strings(rr.SignedBy)
	rr.ThresholdMet = role.Threshold >= 1 && len(rr.SignedBy) >= role.Threshold
	return rr, bad
}

func checkRootCert(k data.PublicKey, gun string, now time.Time) (*CertReport, error) {
	if k.Algorithm() != data.ECDSAx509Key && k.Algorithm() != data.RSAx509Key {
		return nil, fmt.Errorf("root keys must be x509 certificates, not %s", k.Algorithm())
	}
	cert, err := utils.LoadCertFromPEM(k.Public())
	if err != nil {
		return nil, err
	}
	if cert.IsCA {
		return nil, fmt.Errorf("is a CA certificate; notary needs a leaf")
	}
	// notary's own rules for a root certificate (validity window, no
	// SHA-1, RSA size); its expiry is checked below, against now.
	if err := utils.ValidateCertificate(cert, false); err != nil {
		return nil, err
	}
	if !trustpinning.MatchCNToGun(cert.Subject.CommonName, data.GUN(gun)) {
		return nil, fmt.Errorf("common name %q does not match the GUN", cert.Subject.CommonName)
	}
	if now.Before(cert.NotBefore.Add(-24 * time.Hour)) {
		return nil, fmt.Errorf("not valid before %s", cert.NotBefore.Format(time.RFC3339))
	}
	if now.After(cert.NotAfter) {
		return nil, fmt.Errorf("expired on %s", cert.NotAfter.Format(time.RFC3339))
	}
	if err := checkSelfSignature(cert); err != nil {
		return nil, fmt.Errorf("self-signature does not verify: %v", err)
	}
	canon, err := CanonicalID(k)
	if err != nil {
		return nil, err
	}
	return &CertReport{KeyID: k.ID(), CanonicalID: canon, CommonName: cert.Subject.CommonName,
		NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC()}, nil
}

// ShortID is the 12-character prefix of a key ID that docker shows.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// ListIDs joins key IDs for a message, shortened or whole; "none" for none.
func ListIDs(ids []string, shorten bool) string {
	if len(ids) == 0 {
		return "none"
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		if shorten {
			id = ShortID(id)
		}
		out[i] = id
	}
	return strings.Join(out, ", ")
}
