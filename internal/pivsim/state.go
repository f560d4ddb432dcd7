package pivsim

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Factory defaults of a YubiKey PIV applet.
var (
	DefaultPIN           = []byte("123456")
	DefaultPUK           = []byte("12345678")
	DefaultManagementKey = []byte{
		1, 2, 3, 4, 5, 6, 7, 8,
		1, 2, 3, 4, 5, 6, 7, 8,
		1, 2, 3, 4, 5, 6, 7, 8,
	}
)

// Algorithm identifiers (SP 800-78-4 and Yubico extensions).
const (
	Alg3DES    = 0x03
	AlgAES128  = 0x08
	AlgAES192  = 0x0a
	AlgAES256  = 0x0c
	AlgRSA1024 = 0x06
	AlgRSA2048 = 0x07
	AlgRSA3072 = 0x05
	AlgRSA4096 = 0x16
	AlgP256    = 0x11
	AlgP384    = 0x14
	AlgEd25519 = 0xe0
	AlgX25519  = 0xe1
)

// Policies as the card encodes them.
const (
	PINNever  = 0x01
	PINOnce   = 0x02
	PINAlways = 0x03

	TouchNever  = 0x01
	TouchAlways = 0x02
	TouchCached = 0x03

	OriginGenerated = 0x01
	OriginImported  = 0x02
)

// Data objects the card gives special treatment.
const (
	objAttestation = 0x5fff01 // F9 certificate
	objPrinted     = 0x5fc109 // PIN-protected metadata (piv-go, ykman)
	objPivman      = 0x5fff00 // ykman's unprotected admin data
	objDiscovery   = 0x7e
)

// slotKey is a private key in a slot.
type slotKey struct {
	Alg    byte   `json:"alg"`
	PIN    byte   `json:"pin_policy"`
	Touch  byte   `json:"touch_policy"`
	Origin byte   `json:"origin"`
	PKCS8  []byte `json:"pkcs8"`

	priv crypto.Signer // parsed PKCS8 (an *ecdh.PrivateKey is kept in x25519)
	x    any
}

func (k *slotKey) parse() error {
	p, err := x509.ParsePKCS8PrivateKey(k.PKCS8)
	if err != nil {
		return err
	}
	k.x = p
	if s, ok := p.(crypto.Signer); ok {
		k.priv = s
	}
	return nil
}

// state is everything a YubiKey keeps across power cycles.
type state struct {
	Serial     uint32  `json:"serial"`
	Version    [3]byte `json:"version"`
	FormFactor byte    `json:"form_factor"`

	PIN        []byte `json:"pin"` // unpadded
	PUK        []byte `json:"puk"`
	PINMax     int    `json:"pin_max"`
	PINLeft    int    `json:"pin_left"`
	PUKMax     int    `json:"puk_max"`
	PUKLeft    int    `json:"puk_left"`
	MgmtAlg    byte   `json:"mgmt_alg"`
	MgmtKey    []byte `json:"mgmt_key"`
	MgmtTouch  bool   `json:"mgmt_touch"`
	DefaultAlg byte   `json:"default_mgmt_alg"` // what reset restores

	Slots   map[string]*slotKey `json:"slots"`   // by hex slot, e.g. "9c"
	Objects map[string][]byte   `json:"objects"` // by hex object id, contents of tag 53

	// The device attestation key (slot F9) survives a PIV reset, as on a
	// real YubiKey; its certificate is object 5FFF01.
	AttestKey  []byte `json:"attest_key"`
	AttestCert []byte `json:"attest_cert"`

	Signatures int `json:"signatures"` // private-key operations, for tests
}

func slotName(s byte) string      { return fmt.Sprintf("%02x", s) }
func objName(obj uint32) string   { return fmt.Sprintf("%x", obj) }
func (s *state) pinDefault() bool { return bytes.Equal(s.PIN, DefaultPIN) }
func (s *state) pukDefault() bool { return bytes.Equal(s.PUK, DefaultPUK) }
func (s *state) mgmtDefault() bool {
	return bytes.Equal(s.MgmtKey, DefaultManagementKey)
}

// factoryReset restores the PIV applet's defaults. The attestation key and
// its certificate stay.
func (s *state) factoryReset() {
	s.PIN = append([]byte(nil), DefaultPIN...)
	s.PUK = append([]byte(nil), DefaultPUK...)
	s.PINMax, s.PINLeft, s.PUKMax, s.PUKLeft = 3, 3, 3, 3
	s.MgmtAlg = s.DefaultAlg
	s.MgmtKey = append([]byte(nil), DefaultManagementKey...)
	s.MgmtTouch = false
	s.Slots = map[string]*slotKey{}
	attest := s.Objects[objName(objAttestation)]
	s.Objects = map[string][]byte{}
	if attest != nil {
		s.Objects[objName(objAttestation)] = attest
	}
}

func (s *state) save(path string) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pivsim-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func loadState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("pivsim state %s: %w", path, err)
	}
	if s.Slots == nil {
		s.Slots = map[string]*slotKey{}
	}
	if s.Objects == nil {
		s.Objects = map[string][]byte{}
	}
	for name, k := range s.Slots {
		if err := k.parse(); err != nil {
			return nil, fmt.Errorf("pivsim state %s: slot %s: %w", path, name, err)
		}
	}
	return &s, nil
}
