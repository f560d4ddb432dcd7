package ceremony

import (
	"context"
	"fmt"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
)

// ProvisionOptions control Provision.
type ProvisionOptions struct {
	Device string // yubikey:serial=N
	// NewPIN and NewPUK return the new secrets (asked twice on a terminal,
	// or read from files); they are asked only once the device is found.
	NewPIN, NewPUK func(device string) ([]byte, error)
	// Reset erases the device first, once the operator has typed its
	// serial back (Env.Confirm); a mismatch stops everything.
	Reset bool
	// Repair writes what other tools read onto a device keyrite
	// provisioned before (hsm.ProvisionOptions.Repair); no new secrets
	// are asked, the device's PIN comes from Env.HSM.PIN.
	Repair bool
}

// Provision takes a YubiKey out of its factory state (see
// hsm.Provisioner).
func Provision(ctx context.Context, env session.Env, o ProvisionOptions) (*hsm.ProvisionReport, error) {
	s := session.New(env, "device provision")
	defer s.Close()
	b, err := s.Backend(ctx, o.Device)
	if err != nil {
		return nil, err
	}
	p, ok := b.(hsm.Provisioner)
	if !ok {
		return nil, fmt.Errorf("%s is not a YubiKey: only YubiKeys are provisioned by keyrite (initialise PKCS#11 tokens with their own tools)", hsm.Redact(o.Device))
	}
	if o.Repair {
		return p.Provision(ctx, hsm.ProvisionOptions{Repair: true})
	}
	po := hsm.ProvisionOptions{Reset: o.Reset}
	info := b.Info()
	name := fmt.Sprintf("%s serial %s", info.Label, info.Serial)
	if o.Reset {
		if err := env.ConfirmTyped(session.Confirmation{Action: "reset erases every key on " + name, What: "serial",
			Prompt: fmt.Sprintf("Type the serial of the %s to erase (%s): ", info.Label, info.Serial), Want: info.Serial}); err != nil {
			return nil, err
		}
		po.ConfirmedSerial = info.Serial
	}
	if po.NewPIN, err = o.NewPIN(name); err != nil {
		return nil, err
	}
	if po.NewPUK, err = o.NewPUK(name); err != nil {
		hsm.Wipe(po.NewPIN)
		return nil, err
	}
	return p.Provision(ctx, po)
}
