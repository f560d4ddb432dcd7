package yubikey_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"strconv"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/pivsim"
	"github.com/keyrite/keyrite/internal/testenv"
)

// Delete on firmware 5.7 empties the slot (DELETE KEY, and the certificate
// goes too); on older firmware, which cannot delete keys, it overwrites the
// key with a throwaway one that List still shows as a freed slot. Either
// way the old key is gone, and the slot is used again.
// plugAlone plugs a new virtual YubiKey of a firmware into slot 0 for a
// subtest, with a driver of its own; the card is unplugged after.
func (e *env) plugAlone(t *testing.T, serial uint32, version [3]byte) *pivsim.Card {
	t.Helper()
	e.drv = newDriver(t)
	card := e.pcsc.VirtualYubiKey(t, 0, serial, e.ca, pivsim.Config{Version: version})
	t.Cleanup(func() { e.pcsc.Unplug(0) })
	return card
}

func TestDeleteFreesTheSlot(t *testing.T) {
	e := newEnv(t, 2)
	for _, c := range []struct {
		name    string
		serial  uint32
		version [3]byte
		real    bool
	}{{"5.7 deletes", 6006, [3]byte{5, 7, 1}, true}, {"5.4 overwrites", 5406, [3]byte{5, 4, 3}, false}} {
		t.Run(c.name, func(t *testing.T) {
			card := e.plugAlone(t, c.serial, c.version)
			if err := testenv.Provision(card, testPIN, testPUK); err != nil {
				t.Fatal(err)
			}
			dev := "yubikey:serial=" + strconv.FormatUint(uint64(c.serial), 10)
			b := e.open(t, dev)
			// Without a slot, keys go into the first free retired slot.
			k1, err := b.Generate(context.Background(), hsm.KeySpec{Label: "targets:a", TouchPolicy: "never"})
			if err != nil {
				t.Fatal(err)
			}
			k2, err := b.Generate(context.Background(), hsm.KeySpec{Label: "targets:b", TouchPolicy: "never"})
			if err != nil {
				t.Fatal(err)
			}
			if k1.URI() != dev+";slot=82" || k2.URI() != dev+";slot=83" {
				t.Fatalf("slots %s %s", k1.URI(), k2.URI())
			}
			// A label is unique on the device.
			if _, err := b.Generate(context.Background(), hsm.KeySpec{Label: "targets:b", TouchPolicy: "never"}); !errors.Is(err, hsm.ErrExists) {
				t.Errorf("second key labelled targets:b: %v", err)
			}
			if err := b.Delete(context.Background(), k1.URI()); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if _, err := b.Open(context.Background(), k1.URI()); !errors.Is(err, hsm.ErrNotFound) {
				t.Errorf("open a deleted key: %v", err)
			}
			if card.HasKey(0x82) == c.real || (card.Moves() == 1) != c.real || (len(card.Object(0x5fc10d)) == 0) != c.real {
				t.Errorf("after delete: slot 82 holds a key %v, %d moves, certificate %d bytes (real delete %v)",
					card.HasKey(0x82), card.Moves(), len(card.Object(0x5fc10d)), c.real)
			}
			keys, err := b.List(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := 1
			if !c.real {
				want = 2 // the freed slot is listed
			}
			if len(keys) != want || keys[len(keys)-1].Label != "targets:b" {
				t.Fatalf("list after delete: %+v", keys)
			}
			if !c.real {
				if !keys[0].Free || keys[0].Label != "keyrite: free slot" || keys[0].URI != k1.URI() || keys[0].Public.(*ecdsa.PublicKey).Equal(k1.Public()) {
					t.Errorf("freed slot listed as %+v", keys[0])
				}
			}
			// The freed slot is used again, and the old key is gone from it.
			k3, err := b.Generate(context.Background(), hsm.KeySpec{Label: "targets:c", TouchPolicy: "never"})
			if err != nil {
				t.Fatal(err)
			}
			if k3.URI() != k1.URI() || k3.Public().(*ecdsa.PublicKey).Equal(k1.Public()) {
				t.Errorf("reused slot %s, same key %v", k3.URI(), k3.Public().(*ecdsa.PublicKey).Equal(k1.Public()))
			}
		})
	}
}
