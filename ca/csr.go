package ca

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"slices"
)

// MaxCSRSize bounds a CSR file read from the request media: an RSA 4096
// request in PEM is under 2 KiB.
const MaxCSRSize = 64 << 10

// CSRError is a certificate signing request keyrite will not sign.
type CSRError struct {
	Reason string
}

func (e *CSRError) Error() string { return "certificate signing request: " + e.Reason }

func csrErr(format string, a ...any) error { return &CSRError{Reason: fmt.Sprintf(format, a...)} }

var (
	oidExtKeyUsage       = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidBasicConstraints  = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidEKUCodeSigning    = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 3}
	oidEKUAny            = asn1.ObjectIdentifier{2, 5, 29, 37, 0}
	pemCertificateReq    = "CERTIFICATE REQUEST"
	pemNewCertificateReq = "NEW CERTIFICATE REQUEST"
)

// ParseCSR reads one PEM certificate signing request (nothing before or
// after it), checks its proof of possession (its signature by the key it
// asks a certificate for) and that the key is one Notation accepts.
func ParseCSR(b []byte) (*x509.CertificateRequest, error) {
	if len(b) > MaxCSRSize {
		return nil, csrErr("%d bytes, more than the %d a CSR may hold", len(b), MaxCSRSize)
	}
	block, rest := pem.Decode(b)
	if block == nil || (block.Type != pemCertificateReq && block.Type != pemNewCertificateReq) {
		return nil, csrErr("not a PEM %q block", pemCertificateReq)
	}
	if len(bytes.TrimSpace(rest)) > 0 || len(bytes.TrimSpace(b[:bytes.Index(b, []byte("-----BEGIN"))])) > 0 {
		return nil, csrErr("text before or after the PEM block (one request a file)")
	}
	if len(block.Headers) > 0 {
		return nil, csrErr("PEM headers are not allowed")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, csrErr("%v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, csrErr("its signature does not verify with the key it names, so its holder has not shown they hold that key: %v", err)
	}
	if err := CheckKey("the CSR's key", csr.PublicKey); err != nil {
		return nil, err
	}
	if csr.Subject.CommonName == "" {
		return nil, csrErr("its subject has no CN")
	}
	return csr, nil
}

// CheckRequested refuses a request whose requested extensions contradict
// what it would be issued as: a leaf asking for extended key usages
// without codeSigning (a TLS server certificate, say) or for a CA; an
// intermediate asking not to be a CA. keyrite sets every extension itself
// and copies none from the request; this only refuses to pretend that a
// request for something else is one for code signing.
func CheckRequested(csr *x509.CertificateRequest, intermediate bool) error {
	for _, ext := range csr.Extensions {
		switch {
		case ext.Id.Equal(oidExtKeyUsage):
			var ekus []asn1.ObjectIdentifier
			if rest, err := asn1.Unmarshal(ext.Value, &ekus); err != nil || len(rest) > 0 {
				return csrErr("its requested extended key usage is malformed")
			}
			if intermediate {
				continue
			}
			hasCodeSigning := slices.ContainsFunc(ekus, func(o asn1.ObjectIdentifier) bool { return o.Equal(oidEKUCodeSigning) })
			if !hasCodeSigning || len(ekus) != 1 {
				return &LeafEKUError{Requested: fmt.Sprint(ekus)}
			}
		case ext.Id.Equal(oidBasicConstraints):
			var bc struct {
				IsCA       bool `asn1:"optional"`
				MaxPathLen int  `asn1:"optional,default:-1"`
			}
			if rest, err := asn1.Unmarshal(ext.Value, &bc); err != nil || len(rest) > 0 {
				return csrErr("its requested basic constraints are malformed")
			}
			if bc.IsCA != intermediate {
				if intermediate {
					return csrErr("it asks not to be a CA, but --intermediate issues a CA certificate")
				}
				return csrErr("it asks to be a CA; issue it with --intermediate if that is meant")
			}
		}
	}
	return nil
}

// LeafEKUError is a leaf request for extended key usages other than
// codeSigning alone: Notation verifies only code-signing certificates.
type LeafEKUError struct{ Requested string }

func (e *LeafEKUError) Error() string {
	return fmt.Sprintf("certificate signing request: it asks for extended key usages %s, not codeSigning (%s) alone; a Notation signing certificate is for code signing only", e.Requested, oidEKUCodeSigning)
}

// NewCSR makes a certificate signing request for a device key (an
// intermediate CA's key on another device): signed through the device,
// its proof of possession checked in software like any request's.
func NewCSR(key crypto.Signer, subject pkix.Name) ([]byte, error) {
	if err := CheckKey("the key", key.Public()); err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, key)
	if err != nil {
		return nil, fmt.Errorf("signing the request: %w", err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: pemCertificateReq, Bytes: der})
	if _, err := ParseCSR(b); err != nil {
		return nil, err
	}
	return b, nil
}
