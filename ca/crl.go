package ca

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"
)

// CRLOptions describe a CRL.
type CRLOptions struct {
	Revoked []*big.Int // serial numbers of the certificates revoked
	// Number is the CRL number (RFC 5280 5.2.3): it must grow with each CRL
	// the CA signs. keyrite, keeping no state between ceremonies, takes the
	// ceremony's clock in seconds unless the operator gives one.
	Number     *big.Int
	Now        time.Time
	NextUpdate time.Duration // verifiers refuse the CRL after Now+NextUpdate
	Rand       io.Reader
}

// NewCRL makes a CRL signed by the CA key whose certificate is issuer:
// its number, thisUpdate and nextUpdate (which Notation's revocation check
// requires), each revoked serial; the device's signature verified in
// software before it is returned.
func NewCRL(key crypto.Signer, issuer *x509.Certificate, o CRLOptions) (*x509.RevocationList, error) {
	if !publicEqual(issuer.PublicKey, key.Public()) {
		return nil, &KeyMismatchError{Subject: issuer.Subject.String()}
	}
	if err := CheckCA(issuer, 0); err != nil {
		return nil, err
	}
	if o.Number == nil || o.Number.Sign() <= 0 {
		return nil, fmt.Errorf("a CRL number must be positive")
	}
	r := o.Rand
	if r == nil {
		r = rand.Reader
	}
	tmpl := &x509.RevocationList{Number: o.Number, ThisUpdate: o.Now.UTC(), NextUpdate: o.Now.Add(o.NextUpdate).UTC()}
	seen := map[string]bool{}
	for _, s := range o.Revoked {
		if seen[s.String()] {
			return nil, fmt.Errorf("serial %s is given twice", SerialHex(s))
		}
		seen[s.String()] = true
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: s, RevocationTime: o.Now.UTC()})
	}
	der, err := x509.CreateRevocationList(r, tmpl, issuer, key)
	if err != nil {
		return nil, fmt.Errorf("signing the CRL: %w", err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, err
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("the device's signature on the CRL does not verify: %w", err)
	}
	return crl, nil
}

// ParseSerial reads a serial number as openssl prints it (hex, with or
// without colons or a 0x prefix): positive, at most 20 octets.
func ParseSerial(s string) (*big.Int, error) {
	h := strings.ToLower(strings.TrimPrefix(strings.ReplaceAll(strings.TrimSpace(s), ":", ""), "0x"))
	n, ok := new(big.Int).SetString(h, 16)
	if !ok || n.Sign() <= 0 || len(n.Bytes()) > 20 {
		return nil, fmt.Errorf("serial %q is not a positive hexadecimal serial number of at most 20 octets (openssl x509 -serial prints it)", s)
	}
	return n, nil
}

// SerialHex prints a serial number as ParseSerial reads it: upper-case
// hex, as openssl x509 -serial does.
func SerialHex(n *big.Int) string {
	h := strings.ToUpper(n.Text(16))
	if len(h)%2 == 1 {
		h = "0" + h
	}
	return h
}
