package session

import (
	"context"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/hsm"
)

// KeyNeed is what a command will create on one device: keys that go where
// the device puts them, and keys asked for in named slots.
type KeyNeed struct {
	Device hsm.Backend
	Keys   int      // keys the device places itself (a YubiKey: retired slots)
	Slots  []string // named slots that must be free (a YubiKey's slot=)
	For    string   // what they are, e.g. "per-GUN targets keys of 30 GUNs"
	// Kind says which keys they are (NeedTargets, NeedKey, NeedImport), so
	// the command line can name its own ways out.
	Kind string
}

// What a KeyNeed is for.
const (
	NeedTargetsPerGUN = "targets-per-gun" // init's per-GUN targets keys
	NeedTargetsBatch  = "targets-batch"   // init's one targets key for its batch
	NeedKey           = "key"             // key generate on a device
	NeedImport        = "import"          // a backed-up key imported, or restored
)

// CheckCapacity asks every device that can say (hsm.Capacity) whether it
// holds what the command will create, before the command creates anything:
// it reads only (no PIN, nothing written). Needs on one device add up. A
// device that does not report its capacity is not refused. The first
// device too small is a *CapacityError naming the numbers.
func (s *Session) CheckCapacity(ctx context.Context, needs ...KeyNeed) error {
	type total struct {
		b     hsm.Backend
		keys  int
		slots []string
		what  []string
		kind  string
	}
	var order []string
	by := map[string]*total{}
	for _, n := range needs {
		if n.Device == nil || (n.Keys == 0 && len(n.Slots) == 0) {
			continue
		}
		uri := n.Device.Info().URI
		t, ok := by[uri]
		if !ok {
			t = &total{b: n.Device}
			by[uri] = t
			order = append(order, uri)
		}
		t.keys += n.Keys
		t.slots = append(t.slots, n.Slots...)
		if n.For != "" {
			t.what = append(t.what, n.For)
		}
		if t.kind == "" {
			t.kind = n.Kind
		}
	}
	for _, uri := range order {
		t := by[uri]
		c, ok := t.b.(hsm.Capacity)
		if !ok {
			continue
		}
		info, err := c.Capacity(ctx)
		if err != nil {
			return WrapDevice(uri, err)
		}
		s.logger().Debug("capacity", "device", hsm.Redact(uri), "needed", t.keys, "slots", t.slots, "capacity", info.String())
		e := &CapacityError{Device: uri, Serial: t.b.Info().Serial, Needed: t.keys, Free: info.Free, Unit: info.Unit,
			For: strings.Join(t.what, "; "), Kind: t.kind}
		for _, sl := range t.slots {
			if info.Slots && !info.HasSlot(sl) {
				e.Slot = sl
				return e
			}
		}
		if info.Known() && t.keys > info.Free {
			return e
		}
	}
	return nil
}

// CapacityError is a command that would create more keys on a device than
// it can hold (or a key in a slot that is taken). Nothing was created:
// the check runs before the first key.
type CapacityError struct {
	Device string
	Serial string
	Needed int
	Free   int
	Unit   string
	Slot   string // a named slot that is not free
	For    string
	Kind   string // the KeyNeed's Kind
}

func (e *CapacityError) Error() string {
	dev := hsm.Redact(e.Device)
	if e.Slot != "" {
		return fmt.Sprintf("%s: slot %s already holds a key (%s); nothing was created", dev, e.Slot, e.For)
	}
	return fmt.Sprintf("%s cannot hold what this command creates: %d new key(s) needed (%s), %d free %s; nothing was created",
		dev, e.Needed, e.For, e.Free, e.Unit)
}

// OneKeyEach is the need of a command that puts one key on each device (a
// backed-up key imported, a key generated or restored): in the slot the
// device's URI names, else where the device puts it.
func OneKeyEach(kind, what string, backends []hsm.Backend, uris []string) []KeyNeed {
	var out []KeyNeed
	for i, b := range backends {
		n := KeyNeed{Device: b, Kind: kind, For: what}
		if i < len(uris) && URISlot(uris[i]) != "" {
			n.Slots = []string{URISlot(uris[i])}
		} else {
			n.Keys = 1
		}
		out = append(out, n)
	}
	return out
}
