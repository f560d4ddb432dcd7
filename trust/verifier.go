package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"sync"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"

	"github.com/keyrite/keyrite/hsm"
)

// notary checks every ECDSA signature through signed.Verifiers. keyrite's
// verifier accepts and refuses exactly what notary's ECDSAVerifier does
// (the same key forms, the same r‖s length, ECDSA over SHA-256 of the
// message), but through hsm.VerifyDigestRaw: a signature a device just
// made and its backend verified, or one verify already checked, is not
// verified a second time in the same process. It also keeps the keys it
// parsed, so a root certificate is parsed once, not once per signature.
func init() {
	signed.Verifiers[data.ECDSASignature] = onceVerifier{}
}

type onceVerifier struct{}

func (onceVerifier) Verify(key data.PublicKey, sig, msg []byte) error {
	pub, err := parsedKey(key)
	if err != nil {
		return err
	}
	if len(sig) != 2*hsm.CurveSize(pub.Curve) {
		return signed.ErrInvalid
	}
	digest := sha256.Sum256(msg)
	if hsm.VerifyDigestRaw(pub, digest[:], sig) != nil {
		return signed.ErrInvalid
	}
	return nil
}

var parsedKeys = struct {
	sync.Mutex
	m map[string]*ecdsa.PublicKey
}{m: map[string]*ecdsa.PublicKey{}}

// parsedKey is notary's key parsing for ECDSA signatures, remembered by
// the key's algorithm and public bytes.
func parsedKey(key data.PublicKey) (*ecdsa.PublicKey, error) {
	id := key.Algorithm() + "\x00" + string(key.Public())
	parsedKeys.Lock()
	pub, ok := parsedKeys.m[id]
	parsedKeys.Unlock()
	if ok {
		return pub, nil
	}
	var p any
	switch key.Algorithm() {
	case data.ECDSAx509Key:
		block, _ := pem.Decode(key.Public())
		if block == nil {
			return nil, signed.ErrInvalid
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, signed.ErrInvalid
		}
		p = cert.PublicKey
	case data.ECDSAKey:
		var err error
		if p, err = x509.ParsePKIXPublicKey(key.Public()); err != nil {
			return nil, signed.ErrInvalid
		}
	default:
		return nil, signed.ErrInvalidKeyType{}
	}
	pub, ok = p.(*ecdsa.PublicKey)
	if !ok {
		return nil, signed.ErrInvalid
	}
	parsedKeys.Lock()
	if len(parsedKeys.m) >= 1<<16 {
		clear(parsedKeys.m)
	}
	parsedKeys.m[id] = pub
	parsedKeys.Unlock()
	return pub, nil
}

// checkSelfSignature checks a root certificate's signature with its own
// key. An ECDSA one goes through hsm.VerifyDigest, like every other device
// signature: the certificate a ceremony just had its device sign is not
// verified a second time.
func checkSelfSignature(cert *x509.Certificate) error {
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	var h crypto.Hash
	switch cert.SignatureAlgorithm {
	case x509.ECDSAWithSHA256:
		h = crypto.SHA256
	case x509.ECDSAWithSHA384:
		h = crypto.SHA384
	}
	if !ok || h == 0 {
		return cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature)
	}
	d := h.New()
	d.Write(cert.RawTBSCertificate)
	return hsm.VerifyDigest(pub, d.Sum(nil), cert.Signature)
}
