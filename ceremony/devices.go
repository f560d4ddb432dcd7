package ceremony

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/trust"
)

// Env is what every ceremony needs from the outside world.
type Env struct {
	Registry *hsm.Registry
	HSM      hsm.Options
}

// devices keeps one open backend per device for a command, so a batch
// logs in (and asks for a PIN) once per device.
type devices struct {
	env    Env
	open   map[string]hsm.Backend
	order  []string
	soft   bool
	events []DeviceEvent
}

// DeviceEvent records a device a ceremony used, for the transcript.
type DeviceEvent struct {
	URI      string `json:"uri"`
	Kind     string `json:"kind"`
	Label    string `json:"label,omitempty"`
	Serial   string `json:"serial,omitempty"`
	Model    string `json:"model,omitempty"`
	Firmware string `json:"firmware,omitempty"`
	Software bool   `json:"software,omitempty"`
}

func newDevices(env Env) *devices {
	return &devices{env: env, open: map[string]hsm.Backend{}}
}

func deviceKey(uri string) (string, error) {
	u, err := hsm.ParseURI(uri)
	if err != nil {
		return "", err
	}
	return u.Without("object", "id").String(), nil
}

// backend opens (once) the device a URI selects.
func (d *devices) backend(ctx context.Context, uri string) (hsm.Backend, error) {
	k, err := deviceKey(uri)
	if err != nil {
		return nil, err
	}
	if b, ok := d.open[k]; ok {
		return b, nil
	}
	b, _, err := d.env.Registry.OpenDevice(ctx, uri, d.env.HSM)
	if err != nil {
		return nil, err
	}
	d.open[k] = b
	d.order = append(d.order, k)
	info := b.Info()
	d.soft = d.soft || info.Software
	d.events = append(d.events, DeviceEvent{URI: info.URI, Kind: info.Kind, Label: info.Label, Serial: info.Serial,
		Model: info.Model, Firmware: info.Firmware, Software: info.Software})
	return b, nil
}

// key opens the key a URI names.
func (d *devices) key(ctx context.Context, uri string) (hsm.Key, error) {
	b, err := d.backend(ctx, uri)
	if err != nil {
		return nil, err
	}
	return b.Open(ctx, uri)
}

func (d *devices) close() {
	for _, k := range d.order {
		d.open[k].Close()
	}
}

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
	Mode        string             `json:"mode,omitempty"`
	Attestation *AttestationReport `json:"attestation,omitempty"`
}

func describeKey(uri string, public crypto.PublicKey, label, origin string, software bool) (*KeyDescription, error) {
	alg, err := hsm.CurveName(public)
	if err != nil {
		return nil, err
	}
	pub, err := trust.PublicKey(public)
	if err != nil {
		return nil, err
	}
	return &KeyDescription{URI: uri, Label: label, Algorithm: alg, CanonicalID: pub.ID(), Origin: origin,
		Software: software, PublicPEM: pemPublic(pub.Public())}, nil
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// errNoKeys is returned by a ceremony that was given no root key.
var errNoKeys = errors.New("no root key given: pass --root-key URI (see keyrite key list)")

// wrapDevice names the device in an error, never echoing a secret someone
// typed into its URI.
func wrapDevice(uri string, err error) error { return fmt.Errorf("%s: %w", hsm.Redact(uri), err) }
