package pkcs11

import (
	"context"
	"testing"
)

// TestCapacityNoLogin: the capacity is read from the token's info without
// a login (no PIN asked); SoftHSM does not report its free memory, so
// nothing is known and nothing can be refused on its account.
func TestCapacityNoLogin(t *testing.T) {
	f := newFixture(t)
	c, err := f.b.Capacity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.Known() || c.Slots || f.pins.count() != 0 {
		t.Errorf("SoftHSM capacity %+v, %d PIN requests", c, f.pins.count())
	}
}
