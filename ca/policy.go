// Package ca builds the X.509 certificates and CRLs of a Notary Project
// (Notation) PKI with a device key: a self-signed root CA, intermediate CAs
// and code-signing leaves issued from certificate signing requests, and
// CRLs. It holds the rules the Notary Project signature specification sets
// for each (the same ones notation-core-go's x509 package checks at
// verification time), so that keyrite refuses to sign a certificate that a
// verifier would refuse later. Keys are crypto.Signers (hsm.Key); every
// signature a device makes is verified in software before it is used.
package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
)

// WeakKeyError is a public key the Notary Project does not accept: only
// ECDSA on P-256, P-384 or P-521 and RSA of 2048, 3072 or 4096 bits are.
type WeakKeyError struct {
	Whose  string // "the CA key", "the CSR's key"
	Reason string
}

func (e *WeakKeyError) Error() string {
	return fmt.Sprintf("%s is not accepted by the Notary Project: %s (use ECDSA P-256, P-384 or P-521, or RSA 2048, 3072 or 4096)", e.Whose, e.Reason)
}

// CheckKey refuses a public key a Notation verifier would refuse
// (notation-core-go's algorithm.ExtractKeySpec): other RSA sizes, other
// curves, other key types.
func CheckKey(whose string, pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return &WeakKeyError{Whose: whose, Reason: fmt.Sprintf("ECDSA on curve %s", k.Curve.Params().Name)}
	case *rsa.PublicKey:
		switch bits := k.Size() * 8; bits {
		case 2048, 3072, 4096:
			return nil
		default:
			return &WeakKeyError{Whose: whose, Reason: fmt.Sprintf("RSA of %d bits", bits)}
		}
	}
	return &WeakKeyError{Whose: whose, Reason: fmt.Sprintf("a %T key", pub)}
}

// KeyAlgorithm names a public key as reports show it: "ECDSA P-256",
// "RSA 3072".
func KeyAlgorithm(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.Size()*8)
	}
	return fmt.Sprintf("%T", pub)
}
