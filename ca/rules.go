package ca

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The rules of the Notary Project signature specification ("Certificate
// requirements"), as notation-core-go's x509.ValidateCodeSigningCertChain
// applies them. keyrite checks every certificate it makes against them
// before it is written, and bundle/verify again when a bundle is read.

var oidKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 15}

// RuleError is a certificate that breaks a rule of the specification.
type RuleError struct {
	Subject string
	Reason  string
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("certificate %q: %s", e.Subject, e.Reason)
}

func ruleErr(c *x509.Certificate, format string, a ...any) error {
	return &RuleError{Subject: c.Subject.String(), Reason: fmt.Sprintf(format, a...)}
}

// excludedEKUs are the extended key usages a code-signing leaf must not
// carry (notation-core-go refuses each).
var excludedEKUs = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth,
	x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageTimeStamping, x509.ExtKeyUsageOCSPSigning}

// keyUsageCritical requires the keyUsage extension, marked critical.
func keyUsageCritical(c *x509.Certificate) error {
	for _, ext := range c.Extensions {
		if ext.Id.Equal(oidKeyUsage) {
			if !ext.Critical {
				return ruleErr(c, "the key usage extension must be critical")
			}
			return nil
		}
	}
	return ruleErr(c, "the key usage extension must be present")
}

// CheckCA checks a CA certificate (root or intermediate): basic
// constraints CA, a path length that allows pathLen CAs below it, and a
// critical key usage with keyCertSign and cRLSign.
func CheckCA(c *x509.Certificate, pathLen int) error {
	if !c.BasicConstraintsValid || !c.IsCA {
		return ruleErr(c, "basic constraints must be present, critical, with CA true")
	}
	if (c.MaxPathLen > 0 || c.MaxPathLenZero) && c.MaxPathLen < pathLen {
		return ruleErr(c, "its path length %d allows fewer than the %d CA certificates below it", c.MaxPathLen, pathLen)
	}
	if err := keyUsageCritical(c); err != nil {
		return err
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 || c.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return ruleErr(c, "a CA's key usage must include keyCertSign and cRLSign")
	}
	return CheckKey("the certificate's key", c.PublicKey)
}

// CheckLeaf checks a code-signing leaf: not a CA, a critical key usage
// of digitalSignature alone, the codeSigning extended key usage and none
// that Notation excludes, and a key Notation accepts. (The specification
// allows a leaf without extended key usage; keyrite issues none.)
func CheckLeaf(c *x509.Certificate) error {
	if c.BasicConstraintsValid && c.IsCA {
		return ruleErr(c, "a code-signing certificate must not be a CA")
	}
	if err := keyUsageCritical(c); err != nil {
		return err
	}
	if c.KeyUsage != x509.KeyUsageDigitalSignature {
		return ruleErr(c, "a code-signing certificate's key usage must be digitalSignature only")
	}
	if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageCodeSigning) {
		return ruleErr(c, "a code-signing certificate must carry the codeSigning extended key usage")
	}
	for _, e := range excludedEKUs {
		if slices.Contains(c.ExtKeyUsage, e) {
			return ruleErr(c, "a code-signing certificate must not carry extended key usage %d", e)
		}
	}
	if slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return ruleErr(c, "a code-signing certificate must not carry the anyExtendedKeyUsage")
	}
	return CheckKey("the certificate's key", c.PublicKey)
}

// SelfSigned says whether a certificate is signed by its own key and
// names itself as its issuer.
func SelfSigned(c *x509.Certificate) bool {
	return IssuedBy(c, c) == nil
}

// IssuedBy checks that child names parent as its issuer and carries its
// signature (verified in software).
func IssuedBy(child, parent *x509.Certificate) error {
	if !bytes.Equal(child.RawIssuer, parent.RawSubject) {
		return ruleErr(child, "its issuer is not %q", parent.Subject.String())
	}
	if err := child.CheckSignatureFrom(parent); err != nil {
		return ruleErr(child, "its signature does not verify with the key of %q: %v", parent.Subject.String(), err)
	}
	return nil
}

// CheckChain checks a chain, first certificate first, last the
// self-signed root: each issued by the next, no self-signed certificate
// before the root, each CA's constraints, each valid at. The first is
// checked as a leaf unless it is a CA (an intermediate's own chain).
func CheckChain(chain []*x509.Certificate, at time.Time) error {
	if len(chain) == 0 {
		return errors.New("an empty certificate chain")
	}
	root := chain[len(chain)-1]
	if !SelfSigned(root) {
		return ruleErr(root, "the chain must end in a self-signed root")
	}
	for i, c := range chain {
		if at.Before(c.NotBefore) || at.After(c.NotAfter) {
			return ruleErr(c, "not valid at %s (valid %s to %s)", at.UTC().Format(time.RFC3339),
				c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
		}
		if i < len(chain)-1 {
			if SelfSigned(c) {
				return ruleErr(c, "a self-signed certificate can only end a chain")
			}
			if err := IssuedBy(c, chain[i+1]); err != nil {
				return err
			}
			if c.NotAfter.After(chain[i+1].NotAfter) {
				return ruleErr(c, "it outlives its issuer %q", chain[i+1].Subject.String())
			}
		}
		var err error
		switch {
		case i == 0 && !c.IsCA:
			err = CheckLeaf(c)
		case i == 0:
			err = CheckCA(c, 0)
		default:
			err = CheckCA(c, i-1)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
