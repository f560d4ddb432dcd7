package hsm

import (
	"context"
	"fmt"
)

// Capacity is implemented by a Backend whose device can say, without a
// PIN and without changing anything, how many more keys it can hold: a
// YubiKey's free PIV slots, a PKCS#11 token's free memory where the token
// reports it. Commands that create keys ask before the first device
// operation and refuse a plan the device cannot hold (see
// session.CheckCapacity), instead of failing half-way with keys made.
type Capacity interface {
	Capacity(ctx context.Context) (CapacityInfo, error)
}

// CapacityInfo is what a device can still hold.
type CapacityInfo struct {
	// Unit names what is counted, e.g. "retired key slots (82-95)".
	Unit string `json:"unit"`
	// Free is how many more keys fit; -1 when the device does not say.
	Free int `json:"free"`
	// Total is how many keys of that unit the device has at all; -1
	// when unknown.
	Total int `json:"total"`
	// Slots says keys live in a small fixed set of slots (a YubiKey's
	// PIV application), so that a batch must plan where its keys go.
	Slots bool `json:"slots"`
	// FreeSlots names the free slots when Slots, e.g. ["82","83"]; a key
	// asked for in a named slot needs that slot free.
	FreeSlots []string `json:"free_slots,omitempty"`
	// Note is what the device reported, for the operator (e.g. "free
	// private memory 12288 bytes").
	Note string `json:"note,omitempty"`
}

// Known says whether the device reported how many keys fit.
func (c CapacityInfo) Known() bool { return c.Free >= 0 }

// HasSlot says whether a named slot is free.
func (c CapacityInfo) HasSlot(slot string) bool {
	for _, s := range c.FreeSlots {
		if s == slot {
			return true
		}
	}
	return false
}

func (c CapacityInfo) String() string {
	if !c.Known() {
		return "capacity not reported"
	}
	s := fmt.Sprintf("%d free %s", c.Free, c.Unit)
	if c.Total >= 0 {
		s += fmt.Sprintf(" of %d", c.Total)
	}
	if c.Note != "" {
		s += " (" + c.Note + ")"
	}
	return s
}
