package hsm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Driver opens devices of one URI scheme.
type Driver interface {
	// Open opens the device a URI selects (key attributes are ignored).
	Open(ctx context.Context, u *URI, opts Options) (Backend, error)
	// Devices lists the attached devices of this kind.
	Devices(ctx context.Context, opts Options) ([]DeviceInfo, error)
}

// Registry maps URI schemes to drivers. The command line builds one and
// registers the drivers it was built with; nothing registers itself.
type Registry struct {
	drivers map[string]Driver
	order   []string // registration order, which Devices follows
	attest  map[string]AttestationVerifier
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{drivers: map[string]Driver{}, attest: map[string]AttestationVerifier{}}
}

// Register adds a driver for a scheme.
func (r *Registry) Register(scheme string, d Driver) {
	if _, ok := r.drivers[scheme]; !ok {
		r.order = append(r.order, scheme)
	}
	r.drivers[scheme] = d
}

// Schemes lists the registered schemes, sorted.
func (r *Registry) Schemes() []string {
	var s []string
	for k := range r.drivers {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// OpenDevice opens the device a URI selects.
func (r *Registry) OpenDevice(ctx context.Context, uri string, opts Options) (Backend, *URI, error) {
	u, err := ParseURI(uri)
	if err != nil {
		return nil, nil, err
	}
	d, ok := r.drivers[u.Scheme]
	if !ok {
		return nil, nil, fmt.Errorf("unsupported key URI scheme %q (supported: %s)", u.Scheme, strings.Join(r.Schemes(), ", "))
	}
	pins := &devicePINs{src: opts.PIN, uri: u.Without("object", "id", "slot").String()}
	if opts.PIN != nil {
		opts.PIN = pins
	}
	b, err := d.Open(ctx, u, opts)
	if err != nil {
		return nil, nil, err
	}
	pins.opened(b)
	return b, u, nil
}

// OpenKey opens the device a URI selects and the key it names. The caller
// closes the backend.
func (r *Registry) OpenKey(ctx context.Context, uri string, opts Options) (Key, Backend, error) {
	b, _, err := r.OpenDevice(ctx, uri, opts)
	if err != nil {
		return nil, nil, err
	}
	k, err := b.Open(ctx, uri)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return k, b, nil
}

// Devices lists the devices of every registered driver, in the order they
// were registered (a driver that opens cards exclusively must come before
// one whose PKCS#11 module keeps them open). A driver that fails (a missing
// PKCS#11 module, no smart card service) is reported as an error entry
// rather than hiding the others.
func (r *Registry) Devices(ctx context.Context, opts Options) ([]DeviceInfo, map[string]error) {
	var all []DeviceInfo
	errs := map[string]error{}
	for _, s := range r.order {
		ds, err := r.drivers[s].Devices(ctx, opts)
		if err != nil {
			errs[s] = err
			continue
		}
		all = append(all, ds...)
	}
	return all, errs
}

// SchemeDevices lists the attached devices of one scheme only: a caller
// that needs YubiKeys does not make a PKCS#11 module (OpenSC) open, and
// keep, the cards it would list.
func (r *Registry) SchemeDevices(ctx context.Context, scheme string, opts Options) ([]DeviceInfo, error) {
	d, ok := r.drivers[scheme]
	if !ok {
		return nil, fmt.Errorf("unsupported key URI scheme %q (supported: %s)", scheme, strings.Join(r.Schemes(), ", "))
	}
	return d.Devices(ctx, opts)
}

// RegisterAttestation adds the verifier of an attestation format. The
// command line registers one per format it trusts, with its roots.
func (r *Registry) RegisterAttestation(format string, v AttestationVerifier) {
	r.attest[format] = v
}

// VerifyAttestation checks an attestation with the verifier registered for
// its format. An unregistered format is refused (*UnknownAttestationError),
// as is any attestation given a nil registry.
func (r *Registry) VerifyAttestation(a *Attestation) (*AttestedKey, error) {
	if a == nil {
		return nil, errors.New("no attestation")
	}
	var v AttestationVerifier
	if r != nil {
		v = r.attest[a.Format]
	}
	if v == nil {
		return nil, &UnknownAttestationError{Format: a.Format}
	}
	return v.VerifyAttestation(a)
}
