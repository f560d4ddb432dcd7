package ca

import (
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"
)

// Backdate is how long before the ceremony's clock a certificate starts
// to be valid: a signer whose clock is a little behind still signs
// inside its certificate's validity.
const Backdate = 5 * time.Minute

// RootOptions describe a self-signed root CA certificate.
type RootOptions struct {
	Subject  pkix.Name
	Now      time.Time
	Validity time.Duration
	Rand     io.Reader // nil: crypto/rand
}

// NewRoot makes a self-signed root CA certificate for a device key: basic
// constraints CA (critical, no path length limit), key usage keyCertSign
// and cRLSign (critical). The device's signature is verified in software
// and the certificate checked against the specification's rules before it
// is returned.
func NewRoot(key crypto.Signer, o RootOptions) (*x509.Certificate, error) {
	if err := CheckKey("the CA key", key.Public()); err != nil {
		return nil, err
	}
	serial, err := NewSerial(o.Rand)
	if err != nil {
		return nil, err
	}
	ski, err := keyID(key.Public())
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: o.Subject, NotBefore: o.Now.Add(-Backdate).UTC(),
		NotAfter: o.Now.Add(o.Validity).UTC(), BasicConstraintsValid: true, IsCA: true, MaxPathLen: -1,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, SubjectKeyId: ski}
	c, err := create(tmpl, tmpl, key, o.Rand)
	if err != nil {
		return nil, err
	}
	if err := CheckChain([]*x509.Certificate{c}, o.Now); err != nil {
		return nil, err
	}
	return c, nil
}

// IssueOptions describe a certificate issued from a request.
type IssueOptions struct {
	Intermediate bool // a CA certificate that issues leaves only (path length 0)
	Now          time.Time
	Validity     time.Duration
	// CRLURLs become the certificate's CRL distribution points, so that
	// verifiers that check revocation find the CA's CRL.
	CRLURLs []string
	Rand    io.Reader // nil: crypto/rand
}

// ValidityError is a certificate that would outlive its issuer.
type ValidityError struct {
	NotAfter, IssuerNotAfter time.Time
}

func (e *ValidityError) Error() string {
	return fmt.Sprintf("the certificate would be valid until %s, after its issuer expires (%s)",
		e.NotAfter.UTC().Format(time.DateOnly), e.IssuerNotAfter.UTC().Format(time.DateOnly))
}

// Issue issues a certificate for a checked request (ParseCSR) with the CA
// key whose certificate is chain[0] (chain: the CA's certificate up to its
// root). The issued certificate carries the request's subject and key and
// nothing else of the request: keyrite sets every extension. It is
// verified (the device's signature in software, the whole chain against
// the specification's rules) before it is returned.
func Issue(key crypto.Signer, chain []*x509.Certificate, csr *x509.CertificateRequest, o IssueOptions) (*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, errors.New("no CA certificate")
	}
	issuer := chain[0]
	if !publicEqual(issuer.PublicKey, key.Public()) {
		return nil, &KeyMismatchError{Subject: issuer.Subject.String()}
	}
	if err := CheckChain(chain, o.Now); err != nil {
		return nil, fmt.Errorf("the CA's certificate chain: %w", err)
	}
	if o.Intermediate && issuer.MaxPathLenZero {
		return nil, ruleErr(issuer, "its path length 0 allows it to issue leaf certificates only, not an intermediate CA")
	}
	if err := CheckRequested(csr, o.Intermediate); err != nil {
		return nil, err
	}
	notAfter := o.Now.Add(o.Validity).UTC()
	if notAfter.After(issuer.NotAfter) {
		return nil, &ValidityError{NotAfter: notAfter, IssuerNotAfter: issuer.NotAfter}
	}
	serial, err := NewSerial(o.Rand)
	if err != nil {
		return nil, err
	}
	ski, err := keyID(csr.PublicKey)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: csr.Subject, NotBefore: o.Now.Add(-Backdate).UTC(),
		NotAfter: notAfter, BasicConstraintsValid: true, SubjectKeyId: ski, AuthorityKeyId: issuer.SubjectKeyId,
		CRLDistributionPoints: o.CRLURLs}
	if o.Intermediate {
		tmpl.IsCA, tmpl.MaxPathLen, tmpl.MaxPathLenZero = true, 0, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	}
	if tmpl.NotBefore.Before(issuer.NotBefore) {
		tmpl.NotBefore = issuer.NotBefore
	}
	c, err := createFor(tmpl, issuer, csr.PublicKey, key, o.Rand)
	if err != nil {
		return nil, err
	}
	if err := CheckChain(append([]*x509.Certificate{c}, chain...), o.Now); err != nil {
		return nil, err
	}
	return c, nil
}

// KeyMismatchError is a CA key that is not the key of the CA certificate
// given with it.
type KeyMismatchError struct{ Subject string }

func (e *KeyMismatchError) Error() string {
	return fmt.Sprintf("the CA key is not the key of the CA certificate %q", e.Subject)
}

// NewSerial is a random positive 127-bit serial number (RFC 5280 allows
// 20 octets; random serials make issued certificates unpredictable).
func NewSerial(r io.Reader) (*big.Int, error) {
	if r == nil {
		r = rand.Reader
	}
	max := new(big.Int).Lsh(big.NewInt(1), 127)
	for {
		n, err := rand.Int(r, max)
		if err != nil {
			return nil, err
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

func create(tmpl, parent *x509.Certificate, key crypto.Signer, r io.Reader) (*x509.Certificate, error) {
	return createFor(tmpl, parent, key.Public(), key, r)
}

// createFor signs a certificate through the device and verifies the
// signature in software against the issuer's public key.
func createFor(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer, r io.Reader) (*x509.Certificate, error) {
	if r == nil {
		r = rand.Reader
	}
	der, err := x509.CreateCertificate(r, tmpl, parent, pub, key)
	if err != nil {
		return nil, fmt.Errorf("signing the certificate: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	issuer := parent
	if tmpl == parent {
		issuer = c // self-signed: verified with its own key
	}
	if err := c.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("the device's signature does not verify: %w", err)
	}
	return c, nil
}

// keyID is RFC 5280's method 1 subject key identifier: the SHA-1 of the
// subjectPublicKey bits.
func keyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		Key       asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, err
	}
	sum := sha1.Sum(spki.Key.Bytes)
	return sum[:], nil
}

func publicEqual(a, b crypto.PublicKey) bool {
	x, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && x.Equal(b)
}
