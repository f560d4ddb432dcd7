package main

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// secretEncodings lists the ways a private key could leak into a file:
// the raw scalar and its hex, base64 and base64url forms, and the PKCS#8
// and SEC 1 DER encodings with their base64.
func secretEncodings(k *ecdsa.PrivateKey) (map[string][]byte, error) {
	d, err := k.Bytes()
	if err != nil {
		return nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	sec1, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{
		"raw":               d,
		"hex":               []byte(hex.EncodeToString(d)),
		"HEX":               []byte(strings.ToUpper(hex.EncodeToString(d))),
		"base64":            []byte(base64.StdEncoding.EncodeToString(d)),
		"base64 (raw)":      []byte(base64.RawStdEncoding.EncodeToString(d)),
		"base64url":         []byte(base64.RawURLEncoding.EncodeToString(d)),
		"PKCS#8 DER":        p8,
		"PKCS#8 base64":     []byte(base64.StdEncoding.EncodeToString(p8)),
		"SEC 1 DER":         sec1,
		"SEC 1 base64":      []byte(base64.StdEncoding.EncodeToString(sec1)),
		"decimal (big.Int)": []byte(k.D.String()),
	}
	return out, nil
}
