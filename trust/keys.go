package trust

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// PublicKey converts a crypto public key to a bare TUF key ("ecdsa" or
// "rsa", PKIX DER).
func PublicKey(pub crypto.PublicKey) (data.PublicKey, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	k, err := utils.ParsePEMPublicKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return k, nil
}

// CanonicalID is the key ID notary's key stores and docker's signer lists
// use: the ID of the bare public key, also for certificate keys.
func CanonicalID(k data.PublicKey) (string, error) {
	id := k.ID()
	if c, ok := canonicalIDs.Load(id); ok {
		return c.(string), nil
	}
	c, err := utils.CanonicalKeyID(k)
	if err == nil {
		canonicalIDs.Store(id, c)
	}
	return c, err
}

// canonicalIDs remembers CanonicalID by key ID (a hash of the key's
// algorithm and bytes): a certificate's canonical ID parses it, and every
// check of a bundle asks for the same root keys'.
var canonicalIDs sync.Map

// RootCertificate makes the certificate that stands for a root key in one
// repository's root.json, exactly as notary does (self-signed, CN = GUN,
// code signing), signed by the device. The signature is checked in software.
func RootCertificate(signer crypto.Signer, gun string, notBefore, notAfter time.Time, rand io.Reader) (*x509.Certificate, data.PublicKey, error) {
	tmpl, err := utils.NewCertificate(gun, notBefore, notAfter)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return nil, nil, fmt.Errorf("root certificate for %s: %w", gun, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("root certificate for %s: %w", gun, err)
	}
	if err := checkSelfSignature(cert); err != nil {
		return nil, nil, fmt.Errorf("root certificate for %s: device signature does not verify: %w", gun, err)
	}
	if err := utils.ValidateCertificate(cert, true); err != nil {
		return nil, nil, fmt.Errorf("root certificate for %s: %w", gun, err)
	}
	return cert, utils.CertToKey(cert), nil
}
