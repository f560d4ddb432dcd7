package pkcs11

import (
	"bytes"
	"context"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/testenv"
)

func TestRandom(t *testing.T) {
	h := testenv.NewSoftHSM(t, "rng")
	d := NewDriver()
	defer d.Close()
	u, _ := hsm.ParseURI(h.URI() + "?module-path=" + h.Module)
	b, err := d.Open(context.Background(), u, hsm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rs, ok := b.(hsm.RandomSource)
	if !ok {
		t.Fatal("the PKCS#11 backend is not a RandomSource")
	}
	x, err := rs.Random(context.Background(), 32)
	if err != nil {
		t.Fatal(err)
	}
	y, _ := rs.Random(context.Background(), 32)
	if len(x) != 32 || bytes.Equal(x, y) || bytes.Equal(x, make([]byte, 32)) {
		t.Fatalf("Random: %x, %x", x, y)
	}
	b.Close()
	if _, err := rs.Random(context.Background(), 8); err == nil {
		t.Fatal("Random on a closed backend")
	}
}
