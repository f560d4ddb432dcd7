package pkcs11

import (
	"context"
	"crypto"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/testenv"
)

// BenchmarkRawCSign is the baseline: C_SignInit + C_Sign on a SoftHSM P-256
// key straight through miekg/pkcs11, nothing else.
func BenchmarkRawCSign(b *testing.B) {
	s := testenv.NewSoftHSM(b, "bench-raw")
	c := p11.New(s.Module)
	if c == nil {
		b.Fatalf("cannot load %s", s.Module)
	}
	if err := c.Initialize(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		c.Finalize()
		c.Destroy()
	})
	slots, err := c.GetSlotList(true)
	if err != nil {
		b.Fatal(err)
	}
	var sh p11.SessionHandle
	found := false
	for _, slot := range slots {
		info, err := c.GetTokenInfo(slot)
		if err != nil || info.SerialNumber != s.Serial {
			continue
		}
		if sh, err = c.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION); err != nil {
			b.Fatal(err)
		}
		found = true
	}
	if !found {
		b.Fatalf("token %s not found", s.Serial)
	}
	if err := c.Login(sh, p11.CKU_USER, s.PIN); err != nil {
		b.Fatal(err)
	}
	id := []byte("bench-raw-id")
	_, priv, err := c.GenerateKeyPair(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_EC_KEY_PAIR_GEN, nil)},
		publicPolicy("bench", id, []byte(ecParamsP256)), privatePolicy("bench", id))
	if err != nil {
		b.Fatal(err)
	}
	digest := digest256("benchmark")
	mech := []*p11.Mechanism{p11.NewMechanism(p11.CKM_ECDSA, nil)}
	for b.Loop() {
		if err := c.SignInit(sh, mech, priv); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Sign(sh, digest); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeySign signs through the backend: the same C calls plus the
// session mutex, r‖s to DER and the software verification.
func BenchmarkKeySign(b *testing.B) {
	s := testenv.NewSoftHSM(b, "bench-key")
	d := NewDriver()
	b.Cleanup(func() { d.Close() })
	u, err := hsm.ParseURI(s.URI())
	if err != nil {
		b.Fatal(err)
	}
	be, err := d.Open(context.Background(), u, hsm.Options{Module: s.Module, PIN: &pinCounter{pin: s.PIN}})
	if err != nil {
		b.Fatal(err)
	}
	k, err := be.Generate(context.Background(), hsm.KeySpec{Label: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	digest := digest256("benchmark")
	for b.Loop() {
		if _, err := k.Sign(nil, digest, crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}
