// Package sshsig reads, verifies and makes SSH signatures in OpenSSH's
// SSHSIG format (PROTOCOL.sshsig), the format `ssh-keygen -Y sign` writes
// and `ssh-keygen -Y verify` checks, so that a witness's signature over a
// ceremony's transcript can be checked without keyrite.
//
// A signature is an armored blob:
//
//	"SSHSIG" | uint32 1 | string publickey | string namespace | string reserved | string hash_algorithm | string signature
//
// and what the key signs is
//
//	"SSHSIG" | string namespace | string reserved | string hash_algorithm | string H(message)
//
// with H SHA-512 (what ssh-keygen uses) or SHA-256. keyrite verifies
// ecdsa-sha2-nistp256/384/521, ssh-ed25519 and rsa-sha2-256/512 signatures
// (never ssh-rsa, SHA-1, which OpenSSH refuses too) and makes
// ecdsa-sha2-nistp256/384 signatures with a device key.
package sshsig

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/ssh"
)

const (
	magic      = "SSHSIG"
	version    = 1
	armorBegin = "-----BEGIN SSH SIGNATURE-----"
	armorEnd   = "-----END SSH SIGNATURE-----"
	// MaxArmored bounds what Parse reads: an RSA-16384 signature is far
	// below it.
	MaxArmored = 16 << 10
)

// Signature is a parsed SSHSIG signature.
type Signature struct {
	PublicKey ssh.PublicKey
	Namespace string
	HashAlg   string // "sha512" or "sha256"
	Sig       *ssh.Signature
}

// wire is the blob's layout after the magic preamble.
type wire struct {
	Version   uint32
	PublicKey []byte
	Namespace string
	Reserved  string
	HashAlg   string
	Signature []byte
}

// signedData is what the key signs.
type signedData struct {
	Namespace string
	Reserved  string
	HashAlg   string
	Hash      []byte
}

// Error is a signature that cannot be read or does not verify.
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

func fail(format string, a ...any) error { return &Error{Reason: fmt.Sprintf(format, a...)} }

// Parse reads an armored SSHSIG signature, as ssh-keygen -Y sign writes it.
func Parse(armored []byte) (*Signature, error) {
	if len(armored) > MaxArmored {
		return nil, fail("not an SSH signature: %d bytes, more than any signature", len(armored))
	}
	text := strings.TrimSpace(strings.ReplaceAll(string(armored), "\r\n", "\n"))
	body, ok := strings.CutPrefix(text, armorBegin)
	if !ok {
		return nil, fail("not an SSH signature: no %q line", armorBegin)
	}
	body, ok = strings.CutSuffix(body, armorEnd)
	if !ok {
		return nil, fail("not an SSH signature: no %q line", armorEnd)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return nil, fail("not an SSH signature: %v", err)
	}
	return ParseBlob(raw)
}

// ParseBlob reads an SSHSIG blob (the armor's content).
func ParseBlob(raw []byte) (*Signature, error) {
	rest, ok := bytes.CutPrefix(raw, []byte(magic))
	if !ok {
		return nil, fail("not an SSH signature: no SSHSIG preamble")
	}
	var w wire
	if err := ssh.Unmarshal(rest, &w); err != nil {
		return nil, fail("not an SSH signature: %v", err)
	}
	if w.Version != version {
		return nil, fail("SSH signature version %d (only version 1 exists)", w.Version)
	}
	pub, err := ssh.ParsePublicKey(w.PublicKey)
	if err != nil {
		return nil, fail("SSH signature: its public key: %v", err)
	}
	if _, isCert := pub.(*ssh.Certificate); isCert {
		return nil, fail("SSH signature by a certificate: keyrite checks plain keys only")
	}
	sig := new(ssh.Signature)
	if err := ssh.Unmarshal(w.Signature, sig); err != nil {
		return nil, fail("SSH signature: its signature: %v", err)
	}
	if w.HashAlg != "sha512" && w.HashAlg != "sha256" {
		return nil, fail("SSH signature: hash algorithm %q (sha512 or sha256)", w.HashAlg)
	}
	return &Signature{PublicKey: pub, Namespace: w.Namespace, HashAlg: w.HashAlg, Sig: sig}, nil
}

// Verify checks the signature over message in namespace, as
// ssh-keygen -Y check-novalidate does; who the key belongs to is the
// allowed signers' business (AllowedSigners.Check).
func (s *Signature) Verify(namespace string, message []byte) error {
	if s.Namespace != namespace {
		return fail("the signature is for namespace %q, not %q", s.Namespace, namespace)
	}
	if s.Sig.Format == ssh.KeyAlgoRSA {
		return fail("the signature uses ssh-rsa (SHA-1), which OpenSSH refuses for SSH signatures: sign with rsa-sha2-512")
	}
	if !compatible(s.PublicKey.Type(), s.Sig.Format) {
		return fail("a %s signature by a %s key", s.Sig.Format, s.PublicKey.Type())
	}
	data, err := toSign(namespace, s.HashAlg, message)
	if err != nil {
		return err
	}
	if err := s.PublicKey.Verify(data, s.Sig); err != nil {
		return fail("the signature does not verify over the message (made over other bytes, or altered)")
	}
	return nil
}

// compatible says whether a signature format belongs to a key type.
func compatible(keyType, format string) bool {
	if keyType == ssh.KeyAlgoRSA {
		return format == ssh.KeyAlgoRSASHA256 || format == ssh.KeyAlgoRSASHA512
	}
	return keyType == format
}

// Fingerprint is the key's SHA256:... fingerprint, as ssh-keygen -l shows it.
func (s *Signature) Fingerprint() string { return ssh.FingerprintSHA256(s.PublicKey) }

// toSign builds the bytes a key signs for message in namespace.
func toSign(namespace, hashAlg string, message []byte) ([]byte, error) {
	var h []byte
	switch hashAlg {
	case "sha512":
		s := sha512.Sum512(message)
		h = s[:]
	case "sha256":
		s := sha256.Sum256(message)
		h = s[:]
	default:
		return nil, fail("hash algorithm %q (sha512 or sha256)", hashAlg)
	}
	return append([]byte(magic), ssh.Marshal(signedData{Namespace: namespace, HashAlg: hashAlg, Hash: h})...), nil
}

// Sign makes an armored SSHSIG signature over message in namespace with a
// crypto.Signer (a device key: ECDSA, whose DER signature is re-encoded as
// SSH wants it), hashing the message with SHA-512 as ssh-keygen does. The
// signature is verified in software before it is returned.
func Sign(signer crypto.Signer, rand io.Reader, namespace string, message []byte) ([]byte, error) {
	if namespace == "" {
		return nil, errors.New("an SSH signature needs a namespace")
	}
	s, err := ssh.NewSignerFromSigner(signer)
	if err != nil {
		return nil, err
	}
	data, err := toSign(namespace, "sha512", message)
	if err != nil {
		return nil, err
	}
	sig, err := s.Sign(rand, data)
	if err != nil {
		return nil, err
	}
	blob := append([]byte(magic), ssh.Marshal(wire{Version: version, PublicKey: s.PublicKey().Marshal(), Namespace: namespace,
		HashAlg: "sha512", Signature: ssh.Marshal(sig)})...)
	parsed, err := ParseBlob(blob)
	if err == nil {
		err = parsed.Verify(namespace, message)
	}
	if err != nil {
		return nil, fmt.Errorf("the device's SSH signature does not verify in software: %w", err)
	}
	return Armor(blob), nil
}

// Armor wraps a blob as ssh-keygen does: base64 in lines of 70 characters.
func Armor(blob []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(blob)
	var b strings.Builder
	b.WriteString(armorBegin + "\n")
	for len(enc) > 70 {
		b.WriteString(enc[:70] + "\n")
		enc = enc[70:]
	}
	b.WriteString(enc + "\n" + armorEnd + "\n")
	return []byte(b.String())
}
