package session

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/trust"
)

// KeyDescription is what keyrite reports about a key.
type KeyDescription struct {
	URI         string `json:"uri"`
	Label       string `json:"label,omitempty"`
	Algorithm   string `json:"algorithm"`
	CanonicalID string `json:"key_id"` // bare public key ID, as notary key list shows it
	Origin      string `json:"origin,omitempty"`
	Software    bool   `json:"software,omitempty"`
	PublicPEM   string `json:"public_key_pem"`
	// Mode and Attestation are set for keys generated in attested mode.
	Mode        string                    `json:"mode,omitempty"`
	Attestation *verify.AttestationReport `json:"attestation,omitempty"`
	// Record is the key record key generate wrote (its transcript, sealed
	// by the key).
	Record string `json:"record,omitempty"`
	// Free: a YubiKey slot keyrite freed by overwriting its key with a
	// throwaway one (hsm.KeyInfo.Free).
	Free bool `json:"free,omitempty"`
}

// DescribeKey describes a public key as keyrite reports it.
func DescribeKey(uri string, public crypto.PublicKey, label, origin string, software bool) (*KeyDescription, error) {
	alg, err := hsm.CurveName(public)
	if err != nil {
		return nil, err
	}
	pub, err := trust.PublicKey(public)
	if err != nil {
		return nil, err
	}
	pem := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub.Public()}))
	return &KeyDescription{URI: uri, Label: label, Algorithm: alg, CanonicalID: pub.ID(), Origin: origin,
		Software: software, PublicPEM: pem}, nil
}

// ImportedKey is a device that holds an imported key.
type ImportedKey struct {
	Device   string `json:"device"`
	URI      string `json:"uri"`
	Serial   string `json:"serial,omitempty"`
	Software bool   `json:"software,omitempty"`
}

// ImportVerified imports a key made in memory (a backed-up key, or one
// restored from shares) and checks that the device signs with it: the
// public key it reports and a signature verified in software.
func ImportVerified(ctx context.Context, b hsm.Backend, key crypto.Signer, spec hsm.KeySpec) (hsm.Key, error) {
	k, err := b.Import(ctx, key, spec)
	if err != nil {
		return nil, err
	}
	return k, CheckSigns(k, key.Public())
}

// CheckSigns checks that a device key is the key want and signs with it:
// the public key it reports and a signature verified in software.
func CheckSigns(k hsm.Key, want crypto.PublicKey) error {
	if !samePublic(k.Public(), want) {
		return errors.New("the device reports a different public key for the imported key")
	}
	digest := sha256.Sum256([]byte("keyrite import check " + k.URI()))
	sig, err := k.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		return fmt.Errorf("test signature: %w", err)
	}
	if err := hsm.VerifyDigest(want, digest[:], sig); err != nil {
		return fmt.Errorf("test signature: %w", err)
	}
	return nil
}

// LabelFree refuses a label the device already has, before any key exists.
func LabelFree(ctx context.Context, b hsm.Backend, label string) error {
	keys, err := b.List(ctx)
	if errors.Is(err, hsm.ErrNotFound) {
		return nil // a softkey file that does not exist yet
	}
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.Label == label {
			return fmt.Errorf("%s: a key labelled %q %w; choose another label (nothing was created)", b.Info().URI, label, hsm.ErrExists)
		}
	}
	return nil
}

// URISlot is the slot= of a device URI (YubiKey), "" when it has none.
func URISlot(uri string) string {
	u, err := hsm.ParseURI(uri)
	if err != nil {
		return ""
	}
	return u.Get("slot")
}

// samePublic compares two public keys.
func samePublic(a, b crypto.PublicKey) bool {
	x, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && x.Equal(b)
}
