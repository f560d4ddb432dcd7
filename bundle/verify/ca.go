package verify

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ca"
	"github.com/keyrite/keyrite/trust"
)

// CAReport is the result of verifying a CA bundle.
type CAReport struct {
	Bundle string          `json:"bundle"`
	Record bundle.CARecord `json:"record"`
	oneKeyReport
}

// CADir verifies a CA bundle: its manifest; the transcript chain and its
// one ca.STEP line, which must record exactly what ca.json says and the
// SHA-256 of every file the step made; every certificate's signature in
// software and the chain against the Notary Project's rules at now; the
// CRL's signature by the CA; the trust store (the chain's root) and trust
// policy; the CA key's attestation if any; and the seal, which must be by
// the CA key alone.
func CADir(dir string, now time.Time, o Options) (*CAReport, error) {
	files, rec, err := bundle.ReadCA(dir)
	if err != nil {
		return nil, err
	}
	rep := &CAReport{Bundle: dir, Record: *rec}
	fail, err := rep.transcript(dir, files)
	if err != nil {
		return rep, err
	}
	entries := rep.entries
	if err := checkCALine(rec, entries, fail); err != nil {
		return rep, err
	}
	if err := checkCAFiles(rec, files, fail); err != nil {
		return rep, err
	}
	chain, err := checkCACerts(rec, files, now, fail)
	if err != nil {
		return rep, err
	}
	if err := checkNotationFiles(rec, files, chain[len(chain)-1], fail); err != nil {
		return rep, err
	}
	keyID, err := KeyID(chain[0].PublicKey)
	if err != nil || keyID != rec.CA.KeyID {
		return rep, fail("altered: ca.json names CA key %s, but the CA certificate's key is %s", trust.ShortID(rec.CA.KeyID), trust.ShortID(keyID))
	}
	if rep.Attestation, _, err = oneKeyAttestation(files, entries, o, keyID, rec.Rehearsal, "a CA bundle", fail); err != nil {
		return rep, err
	}
	return rep, rep.sealed(dir, bundle.CAInfoName, rec.Rehearsal, keyID, "a CA bundle")
}

// checkCALine compares ca.json with the transcript's one ca.STEP line.
func checkCALine(rec *bundle.CARecord, entries []bundle.TranscriptEntry, fail func(string, ...any) error) error {
	var line *bundle.TranscriptEntry
	for i, e := range entries {
		if strings.HasPrefix(e.Event, "ca.") {
			if line != nil {
				return fail("altered: transcript lines %d and %d both record a CA step", line.Seq, e.Seq)
			}
			line = &entries[i]
		}
	}
	if line == nil || line.Event != "ca."+rec.Step {
		return fail("altered: the transcript records no ca.%s step", rec.Step)
	}
	var got bundle.CARecord
	if err := json.Unmarshal(line.Data, &got); err != nil {
		return fail("transcript line %d: unreadable ca.%s event", line.Seq, rec.Step)
	}
	want := *rec
	want.Format, want.Rehearsal = "", false
	if !reflect.DeepEqual(normalJSON(got), normalJSON(want)) {
		return fail("altered: ca.json does not say what transcript line %d records", line.Seq)
	}
	return nil
}

// normalJSON compares records by their JSON (times and nil slices alike).
func normalJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// checkCAFiles checks that the files the record lists are exactly the
// files the step made, with their SHA-256.
func checkCAFiles(rec *bundle.CARecord, files bundle.Files, fail func(string, ...any) error) error {
	for p, b := range files {
		made := strings.HasPrefix(p, "certs/") || strings.HasPrefix(p, "crl/") || strings.HasPrefix(p, ca.NotationDir)
		if sum, ok := rec.Files[p]; made && (!ok || sum != bundle.SHA256Hex(b)) {
			return fail("altered: %s is not the file the transcript records", p)
		}
	}
	for p := range rec.Files {
		if _, ok := files[p]; !ok {
			return fail("altered: %s, which the transcript records, is missing", p)
		}
	}
	return nil
}

// checkCACerts verifies the CA's chain, the certificate issued and the CRL.
func checkCACerts(rec *bundle.CARecord, files bundle.Files, now time.Time, fail func(string, ...any) error) ([]*x509.Certificate, error) {
	chain, err := ca.ParsePEMChain(files[bundle.CAChainFile])
	if err != nil {
		return nil, fail("%s: %v", bundle.CAChainFile, err)
	}
	if !bytes.Equal(files[bundle.CACertFile], ca.PEM(chain[0])) {
		return nil, fail("altered: %s is not the first certificate of %s", bundle.CACertFile, bundle.CAChainFile)
	}
	if err := ca.CheckChain(chain, now); err != nil {
		return nil, fail("the CA's chain: %v", err)
	}
	if err := sameCert(&rec.CA, chain[0]); err != nil {
		return nil, fail("altered: ca.json's CA: %v", err)
	}
	switch rec.Step {
	case "init":
		if len(chain) != 1 || rec.Issued != nil || rec.CRL != nil {
			return nil, fail("altered: ca init makes a root certificate alone")
		}
	case "issue":
		issued, err := ca.ParsePEMChain(files[bundle.IssuedChain])
		if err != nil || len(issued) != len(chain)+1 || !bytes.Equal(files[bundle.IssuedFile], ca.PEM(issued[0])) ||
			!bytes.Equal(files[bundle.IssuedChain], ca.PEM(append(issued[:1:1], chain...)...)) {
			return nil, fail("altered: %s must be %s followed by the CA's chain", bundle.IssuedChain, bundle.IssuedFile)
		}
		if err := ca.CheckChain(issued, now); err != nil {
			return nil, fail("the issued certificate: %v", err)
		}
		if rec.Issued == nil {
			return nil, fail("altered: ca.json does not describe the certificate issued")
		}
		if err := sameCert(rec.Issued, issued[0]); err != nil {
			return nil, fail("altered: ca.json's issued certificate: %v", err)
		}
	case "crl":
		crl, err := x509.ParseRevocationList(files[bundle.CRLFile])
		if err != nil {
			return nil, fail("%s: %v", bundle.CRLFile, err)
		}
		if err := crl.CheckSignatureFrom(chain[0]); err != nil {
			return nil, fail("%s is not signed by the CA: %v", bundle.CRLFile, err)
		}
		var revoked []string
		for _, e := range crl.RevokedCertificateEntries {
			revoked = append(revoked, ca.SerialHex(e.SerialNumber))
		}
		c := rec.CRL
		if c == nil || c.Number != crl.Number.String() || !c.ThisUpdate.Equal(crl.ThisUpdate) || !c.NextUpdate.Equal(crl.NextUpdate) ||
			!slices.Equal(c.Revoked, revoked) {
			return nil, fail("altered: ca.json does not describe the CRL %s holds", bundle.CRLFile)
		}
	default:
		return nil, fail("altered: unknown CA step %q", rec.Step)
	}
	return chain, nil
}

// sameCert compares a certificate with what ca.json says of it.
func sameCert(d *bundle.CACert, c *x509.Certificate) error {
	sum := sha256.Sum256(c.Raw)
	if d.SHA256 != hex.EncodeToString(sum[:]) || d.Serial != ca.SerialHex(c.SerialNumber) || d.Subject != c.Subject.String() ||
		!d.NotAfter.Equal(c.NotAfter) || !d.NotBefore.Equal(c.NotBefore) || !slices.Equal(d.CRLURLs, c.CRLDistributionPoints) {
		return fmt.Errorf("it describes %q serial %s, not the certificate the bundle holds", d.Subject, d.Serial)
	}
	return nil
}

// checkNotationFiles checks the trust store (the chain's root alone) and
// the trust policy (strict, for the registries and identities ca.json
// names).
func checkNotationFiles(rec *bundle.CARecord, files bundle.Files, root *x509.Certificate, fail func(string, ...any) error) error {
	if err := ca.CheckStoreName(rec.TrustStore); err != nil {
		return fail("%v", err)
	}
	store := ca.TrustStoreFile(rec.TrustStore)
	if !bytes.Equal(files[store], ca.PEM(root)) {
		return fail("altered: %s must hold the chain's root certificate", store)
	}
	for p := range files {
		if strings.HasPrefix(p, ca.NotationDir) && p != store && p != ca.TrustPolicyName {
			return fail("altered: %s is not a Notation file keyrite writes", p)
		}
	}
	b, ok := files[ca.TrustPolicyName]
	if !ok {
		if len(rec.Registries) > 0 {
			return fail("altered: ca.json names registries, but the bundle holds no trust policy")
		}
		return nil
	}
	p, err := ca.ParsePolicy(b)
	if err != nil {
		return fail("%s: %v", ca.TrustPolicyName, err)
	}
	st := p.TrustPolicies[0]
	if st.Name != rec.TrustStore || !slices.Equal(st.RegistryScopes, rec.Registries) || !slices.Equal(st.TrustedIdentities, rec.Identities) {
		return fail("altered: %s is not the policy ca.json describes", ca.TrustPolicyName)
	}
	return nil
}

// File is one file of the verified bundle.
func (r *CAReport) File(p string) []byte { return r.files[p] }
