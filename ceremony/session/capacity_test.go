package session

import (
	"context"
	"errors"
	"testing"

	"github.com/keyrite/keyrite/hsm"
)

// slotDevice is a device that reports its capacity as a YubiKey does; the
// rest of hsm.Backend is never called by CheckCapacity.
type slotDevice struct {
	hsm.Backend
	uri  string
	info hsm.CapacityInfo
}

func (d *slotDevice) Info() hsm.DeviceInfo { return hsm.DeviceInfo{URI: d.uri, Serial: "7"} }
func (d *slotDevice) Capacity(context.Context) (hsm.CapacityInfo, error) {
	return d.info, nil
}

// TestCheckCapacity: needs on one device add up and are refused with the
// numbers when they exceed what it has free; a named slot must be free; a
// device that does not report its capacity is not refused.
func TestCheckCapacity(t *testing.T) {
	s := New(Env{}, "test")
	yk := &slotDevice{uri: "yubikey:serial=7", info: hsm.CapacityInfo{Unit: "retired key slots (82-95)", Free: 3, Total: 20, Slots: true, FreeSlots: []string{"9a", "82", "83", "84"}}}
	ctx := context.Background()
	if err := s.CheckCapacity(ctx, KeyNeed{Device: yk, Keys: 2}, KeyNeed{Device: yk, Keys: 1, Slots: []string{"9a"}}); err != nil {
		t.Fatalf("3 of 3 free slots and a free 9a refused: %v", err)
	}
	err := s.CheckCapacity(ctx, KeyNeed{Device: yk, Keys: 2, For: "a", Kind: NeedTargetsPerGUN}, KeyNeed{Device: yk, Keys: 2, For: "b"})
	var ce *CapacityError
	if !errors.As(err, &ce) || ce.Needed != 4 || ce.Free != 3 || ce.Kind != NeedTargetsPerGUN || ce.For != "a; b" {
		t.Fatalf("4 keys for 3 free slots: %v (%+v)", err, ce)
	}
	if err := s.CheckCapacity(ctx, KeyNeed{Device: yk, Slots: []string{"9c"}}); !errors.As(err, &ce) || ce.Slot != "9c" {
		t.Errorf("a key in the taken slot 9c: %v", err)
	}
	unknown := &slotDevice{uri: "pkcs11:token=t", info: hsm.CapacityInfo{Free: -1, Total: -1}}
	if err := s.CheckCapacity(ctx, KeyNeed{Device: unknown, Keys: 500}); err != nil {
		t.Errorf("a device that does not report its capacity was refused: %v", err)
	}
}
