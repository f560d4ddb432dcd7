package ceremony

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ca"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
)

// The Notary Project (Notation) ceremonies: a root CA on a device key
// (CAInit), certificates issued from requests (CAIssue) and CRLs (CACRL).
// Each runs in the session frame (devices opened once, a transcript begun,
// recorded and ended, sealed by the CA key) and writes a CA bundle that is
// verified as keyrite verify would before the command succeeds.

// CANotation is what a CA bundle's Notation files say: the trust store's
// name, the registries its trust policy covers and the identities it
// trusts. No registries: no trust policy is written.
type CANotation struct {
	TrustStore string
	Registries []string
	Identities []string
}

// CAInitOptions control CAInit.
type CAInitOptions struct {
	Key      string // the CA key's URI, on any device
	Subject  string // e.g. "CN=Example Signing Root,O=Example,ST=WA,C=US"
	Validity time.Duration
	Out      string
	// RequireAttestation refuses a CA key without a verified attestation
	// (a YubiKey's key generated attested).
	RequireAttestation bool
	CANotation
}

// CAResult is what a CA step wrote.
type CAResult struct {
	Out         string                    `json:"out"`
	Record      bundle.CARecord           `json:"record"`
	Attestation *verify.AttestationReport `json:"attestation,omitempty"`
	Software    bool                      `json:"software,omitempty"`
}

// CAInit makes a self-signed root CA certificate for a device key and
// writes a CA bundle with it, the Notation trust store holding it and, for
// the registries given, a trust policy.
func CAInit(ctx context.Context, env session.Env, o CAInitOptions) (*CAResult, error) {
	subject, err := ca.ParseSubject(o.Subject)
	if err != nil {
		return nil, err
	}
	if o.TrustStore == "" {
		o.TrustStore = StoreName(subject.CommonName)
	}
	if o.Validity <= 0 {
		return nil, &session.MissingInputError{What: "validity"}
	}
	if _, err := notationFiles(o.CANotation, nil); err != nil {
		return nil, err
	}
	s, k, err := openCA(ctx, env, "ca init", o.Out, o.Key)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := ca.CheckKey("the CA key", k.Public()); err != nil {
		return nil, err
	}
	// The CA key's attestation (verified) or origin, as for a Notary
	// root key.
	attFiles, atts, err := attestRootKeys(ctx, s, []string{o.Key}, []hsm.Key{k}, o.RequireAttestation)
	if err != nil {
		return nil, err
	}
	if err := s.Begin(nil, map[string]any{"ca_key": hsm.Redact(o.Key), "subject": o.Subject}); err != nil {
		return nil, err
	}
	root, err := ca.NewRoot(k, ca.RootOptions{Subject: subject, Now: s.Now(), Validity: o.Validity})
	if err != nil {
		return nil, session.WrapDevice(o.Key, err)
	}
	made, err := notationFiles(o.CANotation, root)
	if err != nil {
		return nil, err
	}
	made[bundle.CACertFile], made[bundle.CAChainFile] = ca.PEM(root), ca.PEM(root)
	desc, err := describeCert("root", root, k)
	if err != nil {
		return nil, err
	}
	rec := bundle.CARecord{Step: "init", Created: s.Now().UTC(), CA: *desc}
	extra := bundle.Files{}
	if err := recordAttestations(s, extra, attFiles, atts); err != nil {
		return nil, err
	}
	return writeCA(ctx, s, k, o.Out, rec, o.CANotation, made, extra)
}

// openCA starts a CA step's session once its output is known to be new,
// and opens the CA key. Close the session.
func openCA(ctx context.Context, env session.Env, command, out, key string) (*session.Session, hsm.Key, error) {
	if err := session.CheckNewOutput(out); err != nil {
		return nil, nil, err
	}
	s := session.New(env, command)
	k, err := s.Key(ctx, key)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, k, nil
}

// StoreName is the trust store name a CA's common name gives: lower case,
// runs of other characters as one '-' ("Example Signing Root" ->
// "example-signing-root").
func StoreName(cn string) string {
	s := strings.Trim(storeNameOther.ReplaceAllString(strings.ToLower(cn), "-"), "-")
	if s == "" {
		return "keyrite-ca"
	}
	return s
}

var storeNameOther = regexp.MustCompile(`[^a-z0-9._]+`)

// notationFiles are the trust store (root, once known) and the trust
// policy (when registries are given); with a nil root it only checks the
// names, registries and identities, before any device is touched.
func notationFiles(n CANotation, root *x509.Certificate) (bundle.Files, error) {
	if err := ca.CheckStoreName(n.TrustStore); err != nil {
		return nil, err
	}
	files := bundle.Files{}
	if root != nil {
		files[ca.TrustStoreFile(n.TrustStore)] = ca.PEM(root)
	}
	if len(n.Registries) == 0 {
		return files, nil
	}
	ids := n.Identities
	if len(ids) == 0 {
		ids = []string{ca.AnyIdentity}
	}
	p, err := ca.NewPolicy(n.TrustStore, n.Registries, ids)
	if err != nil {
		return nil, err
	}
	b, err := p.Marshal()
	if err != nil {
		return nil, err
	}
	files[ca.TrustPolicyName] = b
	return files, nil
}

// describeCert is what ca.json says of a certificate; key, when given, is
// the device key whose certificate it is.
func describeCert(kind string, c *x509.Certificate, key hsm.Key) (*bundle.CACert, error) {
	sum := sha256.Sum256(c.Raw)
	d := &bundle.CACert{Kind: kind, Subject: c.Subject.String(), Serial: ca.SerialHex(c.SerialNumber), NotBefore: c.NotBefore,
		NotAfter: c.NotAfter, Algorithm: ca.KeyAlgorithm(c.PublicKey), CRLURLs: c.CRLDistributionPoints, SHA256: hex.EncodeToString(sum[:])}
	if key != nil {
		id, err := verify.KeyID(key.Public())
		if err != nil {
			return nil, err
		}
		d.KeyID, d.KeyURI = id, hsm.Redact(key.URI())
	}
	return d, nil
}

// writeCA records the step (its ca.STEP line holds the record and the
// SHA-256 of every file made), ends the transcript, seals it with the CA
// key, writes the bundle whole and verifies it as keyrite verify would; a
// bundle that fails is removed.
func writeCA(ctx context.Context, s *session.Session, k hsm.Key, out string, rec bundle.CARecord, n CANotation,
	made, extra bundle.Files) (*CAResult, error) {
	rec.TrustStore, rec.Registries = n.TrustStore, n.Registries
	if len(n.Registries) > 0 {
		rec.Identities = n.Identities
		if len(rec.Identities) == 0 {
			rec.Identities = []string{ca.AnyIdentity}
		}
	}
	rec.Files = map[string]string{}
	for p, b := range made {
		rec.Files[p] = bundle.SHA256Hex(b)
	}
	if err := s.Record("ca."+rec.Step, rec); err != nil {
		return nil, err
	}
	if err := s.SealBy(k); err != nil {
		return nil, err
	}
	if err := s.End(map[string]any{"ca_key_id": rec.CA.KeyID}); err != nil {
		return nil, err
	}
	rec.Rehearsal = s.Software()
	for p, b := range extra {
		made[p] = b
	}
	files, err := bundle.CAFiles(rec, s.Transcript(), made)
	if err != nil {
		return nil, err
	}
	if err := s.Seal(ctx, files); err != nil {
		return nil, err
	}
	if err := bundle.Write(out, bundle.KindCA, files); err != nil {
		return nil, err
	}
	rep, err := verify.CADir(out, s.Now(), s.VerifyOptions())
	if err != nil {
		os.RemoveAll(out)
		return nil, fmt.Errorf("the CA bundle just written does not verify (removed): %w", err)
	}
	return &CAResult{Out: out, Record: rep.Record, Attestation: rep.Attestation, Software: s.Software()}, nil
}
