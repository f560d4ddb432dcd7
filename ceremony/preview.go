package ceremony

import (
	"context"
	"errors"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
)

// DiffOptions control Diff.
type DiffOptions struct {
	Server bundle.Server
	Bundle string
	Now    time.Time
	Verify verify.Options
	// Publish makes it publish --dry-run: publish's own checks (complete
	// signatures, the bundle's server, a request bundle the server has not
	// moved past) come first.
	Publish bool
}

// Diff verifies a signed bundle offline and shows what uploading it would
// change on the server, uploading nothing. A bundle still waiting for
// signatures is shown too, unless Publish.
func Diff(ctx context.Context, o DiffOptions) (*verify.Report, []bundle.RepoDiff, error) {
	s, err := bundle.ReadSigned(o.Bundle)
	if err != nil {
		return nil, nil, err
	}
	rep, err := verify.Signed(s, o.Now, o.Verify)
	var inc *verify.IncompleteError
	if err != nil && (o.Publish || !errors.As(err, &inc)) {
		return rep, nil, err
	}
	var d []bundle.RepoDiff
	if o.Publish {
		d, err = bundle.PublishPreview(ctx, o.Server, s)
	} else {
		d, err = bundle.Diff(ctx, o.Server, s)
	}
	return rep, d, err
}
