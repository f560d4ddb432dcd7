package ceremony

import (
	"context"
	"crypto/x509"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ca"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/fsutil"
)

// LeafIdentity, given as a trusted identity, stands for the subject of
// the leaf being issued.
const LeafIdentity = "leaf"

// CAIssueOptions control CAIssue.
type CAIssueOptions struct {
	CA string // the issuing CA key's URI
	// CACert is the CA's certificate chain: a CA bundle (ca init's, or
	// ca issue's of an intermediate), verified first, or a PEM file of
	// the CA's certificate up to its root.
	CACert       string
	CSR          string // the request, from the request media
	Intermediate bool
	Validity     time.Duration
	CRLURLs      []string // http:// URLs where the CA's CRL will be served
	Out          string
	CANotation
}

// CAIssue issues an intermediate CA or a code-signing leaf certificate
// from a CSR and writes a CA bundle with it, its chain, the Notation trust
// store (the chain's root) and, for the registries given, a trust policy.
func CAIssue(ctx context.Context, env session.Env, o CAIssueOptions) (*CAResult, error) {
	if o.Validity <= 0 {
		return nil, &session.MissingInputError{What: "validity"}
	}
	for _, u := range o.CRLURLs {
		if err := checkCRLURL(u); err != nil {
			return nil, err
		}
	}
	chain, err := readCAChain(o.CACert, env)
	if err != nil {
		return nil, err
	}
	b, err := fsutil.Read(o.CSR, fsutil.ReadOptions{Max: ca.MaxCSRSize, What: "CSR"})
	if err != nil {
		return nil, err
	}
	csr, err := ca.ParseCSR(b)
	if err != nil {
		return nil, err
	}
	if err := ca.CheckRequested(csr, o.Intermediate); err != nil {
		return nil, err
	}
	n, err := caNotation(o.CANotation, chain, o.Intermediate)
	if err != nil {
		return nil, err
	}
	s, k, err := openCA(ctx, env, "ca issue", o.Out, o.CA)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	kind := "leaf"
	if o.Intermediate {
		kind = "intermediate"
	}
	if err := s.Begin(nil, map[string]any{"ca_key": hsm.Redact(o.CA), "kind": kind, "csr_sha256": bundle.SHA256Hex(b),
		"csr_subject": csr.Subject.String()}); err != nil {
		return nil, err
	}
	c, err := ca.Issue(k, chain, csr, ca.IssueOptions{Intermediate: o.Intermediate, Now: s.Now(), Validity: o.Validity, CRLURLs: o.CRLURLs})
	if err != nil {
		return nil, session.WrapDevice(o.CA, err)
	}
	for i, id := range n.Identities {
		if id == LeafIdentity {
			if n.Identities[i], err = ca.Identity(c); err != nil {
				return nil, err
			}
		}
	}
	made, err := notationFiles(n, chain[len(chain)-1])
	if err != nil {
		return nil, err
	}
	made[bundle.CACertFile], made[bundle.CAChainFile] = ca.PEM(chain[0]), ca.PEM(chain...)
	made[bundle.IssuedFile], made[bundle.IssuedChain] = ca.PEM(c), ca.PEM(append([]*x509.Certificate{c}, chain...)...)
	caDesc, err := describeCert(caKind(chain), chain[0], k)
	if err != nil {
		return nil, err
	}
	issued, err := describeCert(kind, c, nil)
	if err != nil {
		return nil, err
	}
	rec := bundle.CARecord{Step: "issue", Created: s.Now().UTC(), CA: *caDesc, Issued: issued}
	return writeCA(ctx, s, k, o.Out, rec, n, made, nil)
}

// CACRLOptions control CACRL.
type CACRLOptions struct {
	CA, CACert string // as for CAIssue
	Revoke     []string
	Number     string // decimal; empty: the ceremony's clock in seconds
	NextUpdate time.Duration
	Out        string
	CANotation
}

// CACRL signs a CRL with the CA key, revoking the serials given, and
// writes a CA bundle with it (crl/ca.crl, DER, to serve at the CRL URL
// the CA's certificates name).
func CACRL(ctx context.Context, env session.Env, o CACRLOptions) (*CAResult, error) {
	if o.NextUpdate <= 0 {
		return nil, &session.MissingInputError{What: "next update"}
	}
	var revoked []*big.Int
	for _, r := range o.Revoke {
		n, err := ca.ParseSerial(r)
		if err != nil {
			return nil, err
		}
		revoked = append(revoked, n)
	}
	number := big.NewInt(env.Now().Unix())
	if o.Number != "" {
		var ok bool
		if number, ok = new(big.Int).SetString(o.Number, 10); !ok || number.Sign() <= 0 {
			return nil, fmt.Errorf("CRL number %q is not a positive decimal number", o.Number)
		}
	}
	chain, err := readCAChain(o.CACert, env)
	if err != nil {
		return nil, err
	}
	n, err := caNotation(o.CANotation, chain, true)
	if err != nil {
		return nil, err
	}
	s, k, err := openCA(ctx, env, "ca crl", o.Out, o.CA)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := s.Begin(nil, map[string]any{"ca_key": hsm.Redact(o.CA), "revoke": o.Revoke}); err != nil {
		return nil, err
	}
	crl, err := ca.NewCRL(k, chain[0], ca.CRLOptions{Revoked: revoked, Number: number, Now: s.Now(), NextUpdate: o.NextUpdate})
	if err != nil {
		return nil, session.WrapDevice(o.CA, err)
	}
	made, err := notationFiles(n, chain[len(chain)-1])
	if err != nil {
		return nil, err
	}
	made[bundle.CACertFile], made[bundle.CAChainFile], made[bundle.CRLFile] = ca.PEM(chain[0]), ca.PEM(chain...), crl.Raw
	caDesc, err := describeCert(caKind(chain), chain[0], k)
	if err != nil {
		return nil, err
	}
	info := &bundle.CRLInfo{Number: crl.Number.String(), ThisUpdate: crl.ThisUpdate, NextUpdate: crl.NextUpdate, Revoked: []string{}}
	for _, r := range revoked {
		info.Revoked = append(info.Revoked, ca.SerialHex(r))
	}
	rec := bundle.CARecord{Step: "crl", Created: s.Now().UTC(), CA: *caDesc, CRL: info}
	return writeCA(ctx, s, k, o.Out, rec, n, made, nil)
}

// readCAChain reads the CA's chain from a CA bundle (verified first) or a
// PEM file, and checks it against the Notary Project's rules now.
func readCAChain(p string, env session.Env) ([]*x509.Certificate, error) {
	if p == "" {
		return nil, &session.MissingInputError{What: "CA certificate"}
	}
	var b []byte
	if fi, err := os.Stat(p); err == nil && (fi.IsDir() || bundle.IsTarPath(p)) {
		rep, err := verify.CADir(p, env.Now(), env.VerifyOptions())
		if err != nil {
			return nil, err
		}
		switch {
		case rep.Record.Step == "issue" && rep.Record.Issued.Kind == "intermediate":
			b = rep.File(bundle.IssuedChain)
		case rep.Record.Step == "init":
			b = rep.File(bundle.CAChainFile)
		default:
			return nil, fmt.Errorf("%s: a CA bundle of ca %s does not hold a CA's certificate (give ca init's bundle, or ca issue --intermediate's)", p, rep.Record.Step)
		}
	} else if b, err = fsutil.Read(p, fsutil.ReadOptions{Max: 1 << 20, What: "CA certificate"}); err != nil {
		return nil, err
	}
	chain, err := ca.ParsePEMChain(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if !chain[0].IsCA {
		return nil, fmt.Errorf("%s: %q is not a CA certificate", p, chain[0].Subject.String())
	}
	if err := ca.CheckChain(chain, env.Now()); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return chain, nil
}

// caNotation completes the Notation settings: the trust store is named
// after the chain's root unless named; "leaf" is an identity for leaves
// only.
func caNotation(n CANotation, chain []*x509.Certificate, noLeaf bool) (CANotation, error) {
	if n.TrustStore == "" {
		n.TrustStore = StoreName(chain[len(chain)-1].Subject.CommonName)
	}
	n.Identities = append([]string(nil), n.Identities...)
	for _, id := range n.Identities {
		if id == LeafIdentity && noLeaf {
			return n, &ca.PolicyError{Reason: "the trusted identity \"leaf\" names the subject of a leaf being issued; give \"*\" or x509.subject: ... here"}
		}
	}
	if _, err := notationFiles(CANotation{TrustStore: n.TrustStore, Registries: n.Registries, Identities: placeholderIDs(n.Identities)}, nil); err != nil {
		return n, err
	}
	return n, nil
}

// placeholderIDs lets the policy be checked before the leaf's subject is
// known.
func placeholderIDs(ids []string) []string {
	out := append([]string(nil), ids...)
	for i, id := range out {
		if id == LeafIdentity {
			out[i] = ca.AnyIdentity
		}
	}
	return out
}

func caKind(chain []*x509.Certificate) string {
	if len(chain) == 1 {
		return "root"
	}
	return "intermediate"
}

// checkCRLURL accepts http:// URLs only: Notation fetches CRLs over plain
// HTTP (a CRL is signed, and TLS to fetch it would need revocation
// checking of its own).
func checkCRLURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "http" || p.Host == "" || p.User != nil {
		return &ca.PolicyError{What: "--crl-url", Reason: fmt.Sprintf("%q: give an http:// URL (Notation fetches CRLs over HTTP only)", u)}
	}
	return nil
}

// CACSROptions control CACSR.
type CACSROptions struct {
	Key, Subject, Out string
}

// CACSR writes a certificate signing request for a device key: how an
// intermediate CA whose key is on a device asks the root for its
// certificate. The request is no ceremony output (it carries no secret
// and proves only possession of the key); it is written whole, 0644, and
// never over an existing file.
func CACSR(ctx context.Context, env session.Env, o CACSROptions) error {
	subject, err := ca.ParseSubject(o.Subject)
	if err != nil {
		return err
	}
	if err := fsutil.RefuseExisting(o.Out, "CSR"); err != nil {
		return err
	}
	s := session.New(env, "ca csr")
	defer s.Close()
	k, err := s.Key(ctx, o.Key)
	if err != nil {
		return err
	}
	b, err := ca.NewCSR(k, subject)
	if err != nil {
		return session.WrapDevice(o.Key, err)
	}
	return fsutil.WriteFile(o.Out, b, 0o644, false)
}
