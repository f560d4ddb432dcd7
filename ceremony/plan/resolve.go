package plan

// What a validated plan resolves to: device and key URIs, GUN lists,
// paths relative to the plan, which steps make bundles, and durations.

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/keyrite/keyrite/hsm"
)

// DeviceURI is the URI of a device the plan names.
func (p *Plan) DeviceURI(name string) (string, error) {
	d, ok := p.Devices[name]
	if !ok {
		return "", fmt.Errorf("no device %q in the plan (devices: %s)", name, strings.Join(sortedKeys(p.Devices), ", "))
	}
	switch {
	case d.YubiKey != 0:
		return fmt.Sprintf("yubikey:serial=%d", d.YubiKey), nil
	case d.Token != "":
		u := &hsm.URI{Scheme: "pkcs11", Path: []hsm.Attr{{Name: "token", Value: d.Token}}}
		if d.TokenSerial != "" {
			u = u.With("serial", d.TokenSerial)
		}
		return u.String(), nil
	}
	u, err := hsm.ParseURI(d.URI)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "pkcs11", "yubikey", "softkey":
	default:
		return "", fmt.Errorf("unsupported scheme %q (pkcs11, yubikey or softkey)", u.Scheme)
	}
	for _, a := range []string{"object", "id", "slot"} {
		if u.Has(a) {
			return "", fmt.Errorf("a device URI names the device only: %s belongs to a key (DEVICE/LABEL in the steps)", a)
		}
	}
	return u.String(), nil
}

// IsYubiKey says whether a device of the plan is a YubiKey.
func (p *Plan) IsYubiKey(name string) bool {
	uri, err := p.DeviceURI(name)
	return err == nil && strings.HasPrefix(uri, "yubikey:")
}

// KeyURI is the URI of a key named DEVICE/LABEL: the object label on a
// PKCS#11 or software token, the PIV slot (9c) on a YubiKey.
func (p *Plan) KeyURI(ref string) (string, error) {
	dev, label, ok := strings.Cut(ref, "/")
	if !ok || dev == "" || label == "" {
		return "", fmt.Errorf("%q: a key is DEVICE/LABEL (a YubiKey's key is DEVICE/SLOT)", ref)
	}
	uri, err := p.DeviceURI(dev)
	if err != nil {
		return "", err
	}
	u, err := hsm.ParseURI(uri)
	if err != nil {
		return "", err
	}
	if u.Scheme == "yubikey" {
		if !isSlot(label) {
			return "", fmt.Errorf("%q: a YubiKey's key is named by its PIV slot (9a, 9c, 9d, 9e or 82-95), not %q", ref, label)
		}
		return u.With("slot", strings.ToLower(label)).String(), nil
	}
	return u.With("object", label).String(), nil
}

func isSlot(s string) bool {
	n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(s), "0x"), 16, 8)
	return err == nil && (n == 0x9a || n == 0x9c || n == 0x9d || n == 0x9e || (n >= 0x82 && n <= 0x95))
}

// GUNs are the repositories of step i (from 1).
func (p *Plan) GUNs(i int) []string {
	if i < 1 || i > len(p.guns) {
		return nil
	}
	return p.guns[i-1]
}

// Path is a file the plan names, relative to the plan's directory.
func (p *Plan) Path(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(p.Dir, name)
}

// producesBundle says whether a step writes a signed bundle.
func producesBundle(s Step) bool {
	return s.Init != nil || s.Refresh != nil || s.RotateRoot != nil || s.RotateTargets != nil || s.RotateSnapshot != nil ||
		s.SignerAdd != nil || s.SignerRemove != nil || s.Sign != nil
}

// producesBackup says whether a step writes a backup of a key.
func producesBackup(s Step) bool { return s.Generate != nil && s.Generate.Mode == ModeBackedUp }

// ProducesBundle says whether step i (from 1) writes a signed bundle.
func (p *Plan) ProducesBundle(i int) bool {
	return i >= 1 && i <= len(p.Steps) && producesBundle(p.Steps[i-1])
}

// NeedsRequest lists the steps (from 1) that read a request bundle: those
// that sign repositories from their current metadata (not sign, which
// reads an earlier bundle).
func (p *Plan) NeedsRequest() []int {
	var out []int
	for i, s := range p.Steps {
		if producesBundle(s) && s.Sign == nil {
			out = append(out, i+1)
		}
	}
	return out
}

// ParseDuration reads expiries like 10y, 3650d, 90d or Go's 72h.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n := len(s); n > 1 && (s[n-1] == 'y' || s[n-1] == 'd') {
		if v, err := strconv.Atoi(s[:n-1]); err == nil && v > 0 {
			day := 24 * time.Hour
			if s[n-1] == 'y' {
				return time.Duration(v) * 365 * day, nil
			}
			return time.Duration(v) * day, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 10y, 3650d or 720h)", s)
	}
	return d, nil
}

// Expiry is an expiry the plan gives, or the default.
func Expiry(given, def string) time.Duration {
	if given == "" {
		given = def
	}
	d, _ := ParseDuration(given)
	return d
}
