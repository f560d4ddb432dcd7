package ceremony

import (
	"context"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
)

// PublishOptions control Publish.
type PublishOptions struct {
	Server   bundle.Server
	Bundle   string
	Now      time.Time
	Progress func(done, total int, gun, state string)
	Verify   verify.Options
}

// Publish verifies a signed bundle offline, then uploads it and reads every
// repository back with notary's client code.
func Publish(ctx context.Context, o PublishOptions) (*verify.Report, []bundle.PublishResult, error) {
	s, err := bundle.ReadSigned(o.Bundle)
	if err != nil {
		return nil, nil, err
	}
	// Verified first: a doctored bundle is reported as such (exit 4),
	// whatever server it was meant for. The rehearsal flag it checks next
	// is then one the seal vouches for.
	rep, err := verify.Signed(s, o.Now, o.Verify)
	if err != nil {
		return rep, nil, err
	}
	if err := checkRehearsalServer(s, o.Server.URL); err != nil {
		return rep, nil, err
	}
	res, err := bundle.Publish(ctx, bundle.PublishOptions{Server: o.Server, Bundle: s, Progress: o.Progress})
	return rep, res, err
}
