package pkcs11

import (
	"context"
	"fmt"

	"github.com/keyrite/keyrite/hsm"
)

var _ hsm.RandomSource = (*Backend)(nil)

// Random returns n bytes from the token's random number generator
// (C_GenerateRandom). No login is needed.
func (b *Backend) Random(ctx context.Context, n int) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usableLocked(ctx); err != nil {
		return nil, err
	}
	out, err := b.ctx().GenerateRandom(b.session, n)
	if err != nil {
		return nil, fmt.Errorf("%s: C_GenerateRandom: %w", b.device, err)
	}
	if len(out) != n {
		return nil, fmt.Errorf("%s: C_GenerateRandom returned %d bytes, %d were asked for", b.device, len(out), n)
	}
	return out, nil
}
