package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/yubikey"
	"github.com/keyrite/keyrite/internal/pivsim"
)

// keyList is key list --json.
func (e *ykEnv) keyList(device string) []session.KeyDescription {
	e.t.Helper()
	out, _ := e.must("key", "list", "--device", device, "--json")
	var l struct{ Keys []session.KeyDescription }
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		e.t.Fatal(err)
	}
	return l.Keys
}

// key delete on YubiKeys: firmware 5.7 deletes the key and its certificate
// (the slot is empty, for every tool), older firmware overwrites it and key
// list shows the freed slot; a slot an older keyrite freed on a 5.7 device
// is listed, and key delete empties it.
func TestYubiKeyKeyDeleteAndFreedSlots(t *testing.T) {
	e := newYKEnv(t, 2)
	const new57, old54 = 74000001, 74000002
	c57 := e.provisioned(0, new57, pivsim.Config{})
	c54 := e.pcsc.VirtualYubiKey(t, 1, old54, e.ca, pivsim.Config{Version: [3]byte{5, 4, 3}})
	e.must("device", "provision", yubikey.DeviceURI(old54), "--pin-file", e.pinFile, "--puk-file", e.pukFile)

	gen := func(serial uint32, label string) session.KeyDescription {
		t.Helper()
		out, _ := e.must("key", "generate", "--device", yubikey.DeviceURI(serial), "--label", label, "--touch-policy", "never", "--pin-file", e.pinFile, "--json")
		var k session.KeyDescription
		if err := json.Unmarshal([]byte(out), &k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	del := func(k session.KeyDescription) string {
		t.Helper()
		out, _ := e.must("key", "delete", k.URI, "--confirm-key-id", k.CanonicalID[:12], "--pin-file", e.pinFile)
		return out
	}

	// 5.7: deleted for real.
	k := gen(new57, "targets:a")
	if k.URI != yubikey.DeviceURI(new57)+";slot=82" || !c57.HasKey(0x82) {
		t.Fatalf("generated %s", k.URI)
	}
	if out := del(k); !strings.Contains(out, "deleted") || strings.Contains(out, "overwritten") {
		t.Errorf("key delete on 5.7:\n%s", out)
	}
	if c57.HasKey(0x82) || len(c57.Object(0x5fc10d)) != 0 || c57.Moves() != 1 {
		t.Errorf("after key delete on 5.7: key %v, certificate %d bytes, %d moves", c57.HasKey(0x82), len(c57.Object(0x5fc10d)), c57.Moves())
	}
	if keys := e.keyList(yubikey.DeviceURI(new57)); len(keys) != 0 {
		t.Errorf("key list after delete on 5.7: %+v", keys)
	}

	// 5.4: overwritten; key list shows the freed slot.
	k = gen(old54, "targets:b")
	if out := del(k); !strings.Contains(out, "overwritten: this firmware cannot delete keys") {
		t.Errorf("key delete on 5.4:\n%s", out)
	}
	if !c54.HasKey(0x82) || c54.Moves() != 0 {
		t.Errorf("after key delete on 5.4: key %v, %d moves", c54.HasKey(0x82), c54.Moves())
	}
	keys := e.keyList(yubikey.DeviceURI(old54))
	if len(keys) != 1 || !keys[0].Free || keys[0].Label != "keyrite: free slot" || keys[0].URI != k.URI || keys[0].CanonicalID == k.CanonicalID {
		t.Errorf("key list after delete on 5.4: %+v", keys)
	}
	out, _ := e.must("key", "list", "--device", yubikey.DeviceURI(old54))
	if !strings.Contains(out, "keyrite: free slot") || !strings.Contains(out, "freed") || !strings.Contains(out, "freed slots: 1") {
		t.Errorf("key list text on 5.4:\n%s", out)
	}
	// The freed slot is used again.
	if k2 := gen(old54, "targets:c"); k2.URI != k.URI {
		t.Errorf("the freed slot was not reused: %s", k2.URI)
	}

	// A slot an older keyrite freed (overwritten, labelled free) on a 5.7
	// device: listed, and key delete empties it.
	b, err := openBackend(e, yubikey.DeviceURI(new57))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Generate(context.Background(), hsm.KeySpec{Label: "keyrite: free slot", Slot: "95", TouchPolicy: "never"}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	keys = e.keyList(yubikey.DeviceURI(new57))
	if len(keys) != 1 || !keys[0].Free || !strings.HasSuffix(keys[0].URI, ";slot=95") {
		t.Fatalf("key list with a slot freed by an older keyrite: %+v", keys)
	}
	del(keys[0])
	if c57.HasKey(0x95) || len(e.keyList(yubikey.DeviceURI(new57))) != 0 {
		t.Error("key delete left the freed slot's throwaway key")
	}
}

// openBackend opens a device with the yubikey driver in this process;
// closing the backend releases the device.
func openBackend(e *ykEnv, uri string) (hsm.Backend, error) {
	u, err := hsm.ParseURI(uri)
	if err != nil {
		return nil, err
	}
	drv := yubikey.NewDriver()
	b, err := drv.Open(context.Background(), u, hsm.Options{PIN: fixedPIN(ykPIN), NoWait: true})
	if err != nil {
		drv.Close()
		return nil, err
	}
	return b, nil
}
