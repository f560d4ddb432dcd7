package yubikey_test

import (
	"context"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/pivsim"
	"github.com/keyrite/keyrite/internal/testenv"
)

// BenchmarkSign measures one root signature through the whole stack:
// keyrite -> piv-go -> libpcsclite -> pcscd -> vpcd -> pivsim, with the PIN
// presented for every signature (PIN policy always) or never.
func BenchmarkSign(b *testing.B) {
	for _, pin := range []string{"always", "never"} {
		b.Run("pin-"+pin, func(b *testing.B) {
			p := testenv.StartPCSC(b, 2)
			ca, err := pivsim.NewCA("bench root")
			if err != nil {
				b.Fatal(err)
			}
			card := p.VirtualYubiKey(b, 0, 9009, ca, pivsim.Config{})
			if err := testenv.Provision(card, testPIN, testPUK); err != nil {
				b.Fatal(err)
			}
			e := &env{pcsc: p, ca: ca, pins: &pins{pin: testPIN}, log: &syncBuffer{}}
			e.drv = newDriver(b)
			u, _ := hsm.ParseURI("yubikey:serial=9009")
			be, err := e.drv.Open(context.Background(), u, e.opts())
			if err != nil {
				b.Fatal(err)
			}
			defer be.Close()
			k, err := be.Generate(context.Background(), hsm.KeySpec{Label: "bench", Slot: "9c", PINPolicy: pin, TouchPolicy: "never"})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := signB(k); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
