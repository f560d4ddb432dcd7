package ceremony

import (
	"context"
	"time"

	"github.com/keyrite/keyrite/bundle"
)

// PublishOptions control Publish.
type PublishOptions struct {
	Server   bundle.Server
	Bundle   string
	Now      time.Time
	Progress func(done, total int, gun, state string)
	Verify   VerifyOptions
}

// Publish verifies a signed bundle offline, then uploads it and reads every
// repository back with notary's client code.
func Publish(ctx context.Context, o PublishOptions) (*VerifyReport, []bundle.PublishResult, error) {
	s, err := bundle.ReadSigned(o.Bundle)
	if err != nil {
		return nil, nil, err
	}
	rep, err := verifySignedWith(s, o.Now, o.Verify)
	if err != nil {
		return rep, nil, err
	}
	res, err := bundle.Publish(ctx, bundle.PublishOptions{Server: o.Server, Bundle: s, Progress: o.Progress})
	return rep, res, err
}
