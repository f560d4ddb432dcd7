package ceremony

import (
	"context"
	"encoding/pem"

	"github.com/keyrite/keyrite/hsm"
)

// GenerateOptions control GenerateKey.
type GenerateOptions struct {
	Device    string // device URI
	Label     string
	Algorithm string
}

// GenerateKey creates a key on a device. The device refuses an existing
// label; the key's first signature is verified before it is reported.
func GenerateKey(ctx context.Context, env Env, o GenerateOptions) (*KeyDescription, error) {
	d := newDevices(env)
	defer d.close()
	b, err := d.backend(ctx, o.Device)
	if err != nil {
		return nil, err
	}
	k, err := b.Generate(ctx, hsm.KeySpec{Label: o.Label, Algorithm: o.Algorithm})
	if err != nil {
		return nil, err
	}
	origin := hsm.OriginGenerated
	if b.Info().Software {
		origin = hsm.OriginSoftware
	}
	return describeKey(k.URI(), k.Public(), o.Label, origin, b.Info().Software)
}

// ListKeys lists the keys on a device.
func ListKeys(ctx context.Context, env Env, device string) ([]KeyDescription, *hsm.DeviceInfo, error) {
	d := newDevices(env)
	defer d.close()
	b, err := d.backend(ctx, device)
	if err != nil {
		return nil, nil, err
	}
	infos, err := b.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	dev := b.Info()
	var out []KeyDescription
	for _, ki := range infos {
		desc, err := describeKey(ki.URI, ki.Public, ki.Label, ki.Origin, dev.Software)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, *desc)
	}
	return out, &dev, nil
}

func pemPublic(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}
