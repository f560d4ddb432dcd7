package pkcs11

import (
	"context"
	"fmt"

	"github.com/keyrite/keyrite/hsm"
)

var _ hsm.Capacity = (*Backend)(nil)

// PKCS#11's "the token does not say" and "no practical limit" memory
// values (CK_UNAVAILABLE_INFORMATION, CK_EFFECTIVELY_INFINITE), as
// miekg/pkcs11 passes CK_ULONG through.
const (
	unavailableInformation = ^uint(0)
	effectivelyInfinite    = 0
)

// Smallest memory an EC key pair can take on a token: the private scalar
// and the public point with their attributes. Dividing the free memory by
// them gives an upper bound on the keys that fit, so a refusal made on it
// is certain; a token whose objects are larger still fails later, with
// its own error.
const (
	minPrivateKeyBytes = 64
	minPublicKeyBytes  = 96
)

// Capacity reads the token's free memory (C_GetTokenInfo: no login, nothing
// written). Most tokens, SoftHSM among them, do not report it: Free is then
// -1 and nothing is refused on its account.
func (b *Backend) Capacity(ctx context.Context) (hsm.CapacityInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usableLocked(ctx); err != nil {
		return hsm.CapacityInfo{}, err
	}
	info, err := b.ctx().GetTokenInfo(b.tok.slot)
	if err != nil {
		return hsm.CapacityInfo{}, fmt.Errorf("%s: token info: %w", b.device, err)
	}
	c := hsm.CapacityInfo{Unit: "EC key pairs (at most, from the token's free memory)", Free: -1, Total: -1}
	priv, pub := info.FreePrivateMemory, info.FreePublicMemory
	known := func(v uint) bool { return v != unavailableInformation && v != effectivelyInfinite }
	if !known(priv) || !known(pub) {
		return c, nil
	}
	c.Free = min(int(priv/minPrivateKeyBytes), int(pub/minPublicKeyBytes))
	c.Note = fmt.Sprintf("free private memory %d bytes, free public memory %d bytes", priv, pub)
	return c, nil
}
