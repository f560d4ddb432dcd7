package bundle

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"fmt"

	"filippo.io/edwards25519"
	"github.com/theupdateframework/notary/tuf/data"
)

// A request bundle's server keys are what a root key signs into root.json:
// the timestamp and snapshot keys notary-server serves for a GUN. The
// online machine fetched them and could have put anything there, so each
// is checked when the request bundle is read, before any device is
// opened: exactly the JSON notary-server writes (keytype, keyval.public,
// keyval.private null), of a type notary-server issues for these roles,
// whose public bytes parse as that type. notary-server's keys come from
// its signer, which makes ECDSA P-256 (the default) and Ed25519 keys only
// (notary-signer's generatePrivateKey; a server with trust_service "local"
// makes Ed25519): RSA keys and certificates are never server keys.

// ServerKeyError is a server key in a request bundle that notary-server
// would not have served.
type ServerKeyError struct {
	Bundle string
	GUN    string
	Role   data.RoleName
	Reason string
}

func (e *ServerKeyError) Error() string {
	return fmt.Sprintf("bundle %s: %s: the server's %s key (%s) %s", e.Bundle, e.GUN, e.Role, RepoFile(e.GUN, e.Role.String()+".key"), e.Reason)
}

// serverKeyJSON is a key as notary-server serves it; keyid is accepted
// and checked when present, as other tools write it.
type serverKeyJSON struct {
	KeyType string `json:"keytype"`
	KeyVal  struct {
		Public  []byte          `json:"public"`
		Private json.RawMessage `json:"private"`
	} `json:"keyval"`
	KeyID *string `json:"keyid"`
}

// ParseServerKey checks a timestamp or snapshot key file as notary-server
// serves it and returns the key. The error's text is the reason, to be
// wrapped in a *ServerKeyError by the caller that knows the bundle.
func ParseServerKey(b []byte) (data.PublicKey, error) {
	if len(b) > MaxKeySize {
		return nil, fmt.Errorf("is %d bytes, more than the %d a key may hold", len(b), MaxKeySize)
	}
	var k serverKeyJSON
	if err := decodeStrict(b, &k); err != nil {
		return nil, fmt.Errorf("is not a key as notary-server serves one: %v", err)
	}
	if len(k.KeyVal.Private) > 0 && !bytes.Equal(k.KeyVal.Private, []byte("null")) {
		return nil, fmt.Errorf("carries a private key: a server key is public, and this one was not made by notary-server")
	}
	pub := k.KeyVal.Public
	switch k.KeyType {
	case data.ED25519Key:
		if err := checkEd25519(pub); err != nil {
			return nil, err
		}
	case data.ECDSAKey:
		if err := checkP256(pub); err != nil {
			return nil, err
		}
	case data.ECDSAx509Key, data.RSAx509Key:
		return nil, fmt.Errorf("is a certificate (%s): notary-server serves a bare key for this role", k.KeyType)
	case data.RSAKey:
		return nil, fmt.Errorf("is an RSA key: notary-server's signer makes ECDSA P-256 and Ed25519 keys only")
	case "":
		return nil, fmt.Errorf("has no keytype")
	default:
		return nil, fmt.Errorf("has key type %q: notary-server's keys are ecdsa or ed25519", k.KeyType)
	}
	key := data.NewPublicKey(k.KeyType, pub)
	if k.KeyID != nil && *k.KeyID != key.ID() {
		return nil, fmt.Errorf("names key ID %q, but its public key has ID %s", *k.KeyID, key.ID())
	}
	return key, nil
}

func checkEd25519(pub []byte) error {
	if len(pub) != 32 {
		return fmt.Errorf("has %d public bytes, an Ed25519 key has 32 (cut short or altered)", len(pub))
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return fmt.Errorf("is not an Ed25519 public key: its bytes are not a point of the curve (altered)")
	}
	// A point of small order verifies forged signatures.
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return fmt.Errorf("is an Ed25519 point of small order, which no key pair has")
	}
	return nil
}

func checkP256(pub []byte) error {
	parsed, err := x509.ParsePKIXPublicKey(pub)
	if err != nil {
		return fmt.Errorf("is not an ECDSA public key: %v (cut short or altered)", err)
	}
	ec, ok := parsed.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("says ecdsa but holds a %T", parsed)
	}
	if ec.Curve != elliptic.P256() {
		return fmt.Errorf("is an ECDSA key on %s: notary-server's ECDSA keys are P-256", ec.Curve.Params().Name)
	}
	// One encoding only: the one notary writes (uncompressed point).
	canon, err := x509.MarshalPKIXPublicKey(ec)
	if err != nil || !bytes.Equal(canon, pub) {
		return fmt.Errorf("is an ECDSA P-256 key in an encoding notary does not write (altered)")
	}
	return nil
}
