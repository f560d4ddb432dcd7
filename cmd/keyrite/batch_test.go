package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm/yubikey"
	"github.com/keyrite/keyrite/internal/pivsim"
	"github.com/keyrite/keyrite/internal/testenv"
	"github.com/keyrite/keyrite/internal/testenv/offline"
)

// batchGUNs names n GUNs of one organisation.
func batchGUNs(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("registry.example.com/batch/app-%03d", i))
	}
	return out
}

// rootWithTouch generates a root key in slot 9c with a touch policy, and
// checks that key generate states what the policy costs in a batch.
func (e *ykEnv) rootWithTouch(serial uint32, touch string) session.KeyDescription {
	e.t.Helper()
	out, errOut := e.must("key", "generate", "--device", yubikey.DeviceURI(serial)+";slot=9c", "--label", "root-"+touch,
		"--mode", "attested", "--touch-policy", touch, "--pin-file", e.pinFile, "--json")
	var k session.KeyDescription
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		e.t.Fatal(err)
	}
	if k.Attestation == nil || k.Attestation.TouchPolicy != touch {
		e.t.Fatalf("generated %+v", k)
	}
	if !strings.Contains(errOut, "touch policy "+touch+":") || !strings.Contains(errOut, "batch") {
		e.t.Errorf("key generate does not state what touch policy %s means for a batch:\n%s", touch, errOut)
	}
	return k
}

// pinEntries counts the PINs keyrite read (--verbose's "secret read"), per
// device description.
func pinEntries(stderr string) map[string]int {
	out := map[string]int{}
	for _, l := range strings.Split(stderr, "\n") {
		if !strings.Contains(l, `msg="secret read"`) {
			continue
		}
		_, dev, _ := strings.Cut(l, `device="`)
		dev, _, _ = strings.Cut(dev, `"`)
		out[dev]++
	}
	return out
}

// TestYubiKeyInit200GUNs is init of 200 GUNs with the root key on the
// virtual YubiKey and the default targets placement: one targets key for
// the batch in a retired slot (per-GUN keys would need 200 of 20 slots).
// The card counts the touches: with cached touch policies at most one per
// 15-second window of the run, plus one; one PIN entry for the device. The
// bundle is published, and notary-server, the notary CLI and docker accept
// a sample of the GUNs, whose Repository key is the batch's key.
func TestYubiKeyInit200GUNs(t *testing.T) {
	e := newYKEnv(t, 2)
	srv := testenv.StartNotaryServer(t)
	const serial = 11000001
	card := e.provisioned(0, serial, pivsim.Config{})
	key := e.rootWithTouch(serial, "cached")
	guns := batchGUNs(200)
	req, signed := filepath.Join(e.dir, "request"), filepath.Join(e.dir, "signed")
	e.must(append([]string{"fetch", "--server", srv.URL, "--tls-ca", srv.CAFile, "-o", req}, guns...)...)

	// A YubiKey 5 takes some 50 ms for a P-256 signature; the simulator
	// none. At the device's pace the run spans several touch windows.
	card.OnSign(func(int) { time.Sleep(50 * time.Millisecond) })
	card.ResetCounters()
	start := time.Now()
	out, errOut := e.must(append([]string{"init", "--in", req, "-o", signed, "--root-key", key.URI, "--require-attestation",
		"--pin-file", e.pinFile, "--verbose", "--json"}, guns...)...)
	took := time.Since(start)
	card.OnSign(nil)
	c := card.Counters()
	var res ceremony.InitResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Repos) != len(guns) || res.Rehearsal {
		t.Fatalf("init: %d repositories, rehearsal %v", len(res.Repos), res.Rehearsal)
	}
	// Stated bound: one touch per cached-touch window, plus the first.
	bound := 1 + int(took/pivsim.TouchCacheWindow)
	t.Logf("init of %d GUNs took %s: %d touches (bound %d), %d PIN VERIFYs, %d signatures, %d writing APDUs",
		len(guns), took.Round(time.Millisecond), c.Touches, bound, c.PINVerifies, c.Signatures, c.Writes)
	if took < 2*pivsim.TouchCacheWindow {
		t.Fatalf("the run took %s: too short to span touch windows", took)
	}
	if c.Touches < 1 || c.Touches > bound {
		t.Errorf("%d touches for %d GUNs in %s: want 1 to %d", c.Touches, len(guns), took, bound)
	}
	if c.WrongPINs != 0 {
		t.Errorf("%d wrong PINs", c.WrongPINs)
	}
	if n := pinEntries(errOut); len(n) != 1 || n["YubiKey serial 11000001"] != 1 {
		t.Errorf("PIN entries per device: %v, want one for the YubiKey", n)
	}
	// One targets key for the batch, in one slot; the card wrote only it
	// (generate, its certificate) and nothing per GUN.
	batchKey := res.Repos[0].TargetsKeyID
	for _, r := range res.Repos {
		if r.TargetsKeyID != batchKey || r.TargetsKeyURI != res.Repos[0].TargetsKeyURI {
			t.Fatalf("%s has targets key %s (%s), not the batch's %s", r.GUN, r.TargetsKeyID, r.TargetsKeyURI, batchKey)
		}
	}
	if c.Writes > 2 {
		t.Errorf("%d writing APDUs for one batch key (generate and its certificate)", c.Writes)
	}
	list, _ := e.must("key", "list", "--device", yubikey.DeviceURI(serial))
	if !strings.Contains(list, ceremony.BatchTargetsLabel(guns)) {
		t.Errorf("key list does not show the batch key %s:\n%s", ceremony.BatchTargetsLabel(guns), list)
	}
	transcript, err := os.ReadFile(filepath.Join(signed, "transcript.jsonl"))
	if err != nil || !strings.Contains(string(transcript), `"targets_placement":"batch"`) {
		t.Errorf("the transcript does not record the placement (%v)", err)
	}

	e.must("publish", "--server", srv.URL, "--tls-ca", srv.CAFile, signed)
	notaryTrust, dockerCfg := filepath.Join(e.dir, "notary-trust"), filepath.Join(e.dir, "docker")
	for _, i := range []int{0, 99, 199} {
		r := res.Repos[i]
		if _, stderr, err := srv.NotaryCLI(notaryTrust, "list", r.GUN); err != nil {
			t.Errorf("notary list %s: %v\n%s", r.GUN, err, stderr)
		}
		pretty, err := srv.DockerTrustInspect(dockerCfg, r.GUN, true)
		if err != nil {
			t.Fatalf("docker trust inspect %s: %v\n%s", r.GUN, err, pretty)
		}
		if rootKey, err := testenv.ParseDockerRootKey(pretty); err != nil || rootKey != r.RootKeyIDs[0] {
			t.Errorf("%s: docker shows Root Key %q (%v), keyrite made %s", r.GUN, rootKey, err, r.RootKeyIDs[0])
		}
		if repoKey, err := testenv.ParseDockerRepositoryKey(pretty); err != nil || repoKey != batchKey {
			t.Errorf("%s: docker shows Repository Key %q (%v), the batch key is %s", r.GUN, repoKey, err, batchKey)
		}
	}
}

// TestYubiKeyCapacityRefused: an init that needs more slots than the
// YubiKey has free (per-GUN targets keys for 25 GUNs, 20 retired slots)
// and a key generate into a taken slot are refused before anything is
// sent to the card that writes, and before any PIN: the card counts no
// writing APDU and no VERIFY. The refusal names the numbers and the ways
// out; the default placement then fits the same GUNs.
func TestYubiKeyCapacityRefused(t *testing.T) {
	e := newYKEnv(t, 2)
	const serial = 11000002
	card := e.provisioned(0, serial, pivsim.Config{})
	key := e.rootWithTouch(serial, "always")
	guns := batchGUNs(25)
	req := filepath.Join(e.dir, "request")
	if err := offline.NewRequest(req, time.Now(), guns...); err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(e.dir, "signed")

	card.ResetCounters()
	_, errOut, code := e.run(append([]string{"init", "--in", req, "-o", signed, "--root-key", key.URI,
		"--targets-placement", "per-gun", "--pin-file", e.pinFile}, guns...)...)
	if code != exitFailed || !strings.Contains(errOut, "25 new key(s) needed") || !strings.Contains(errOut, "20 free retired key slots") ||
		!strings.Contains(errOut, "--targets-placement batch") || !strings.Contains(errOut, "--targets-device URI") {
		t.Fatalf("per-gun init of 25 GUNs on one YubiKey: exit %d\n%s", code, errOut)
	}
	if c := card.Counters(); c.Writes != 0 || c.PINVerifies != 0 || c.Touches != 0 || c.Signatures != 0 {
		t.Errorf("the refused init reached the card: %+v", c)
	}
	if _, err := os.Stat(signed); !os.IsNotExist(err) {
		t.Errorf("the refused init wrote %s", signed)
	}

	_, errOut, code = e.run("key", "generate", "--device", key.URI, "--label", "another", "--pin-file", e.pinFile)
	if code != exitFailed || !strings.Contains(errOut, "slot 9c already holds a key") || !strings.Contains(errOut, "name a free slot") {
		t.Errorf("key generate into a taken slot: exit %d\n%s", code, errOut)
	}
	if c := card.Counters(); c.Writes != 0 || c.PINVerifies != 0 {
		t.Errorf("the refused key generate reached the card: %+v", c)
	}

	e.must(append([]string{"init", "--in", req, "-o", signed, "--root-key", key.URI, "--pin-file", e.pinFile}, guns...)...)
	if c := card.Counters(); c.Writes > 2 {
		t.Errorf("the default placement wrote %d times for one batch key", c.Writes)
	}
}

// TestYubiKeyPlanCapacityRefused: a ceremony plan whose steps together need
// more of a YubiKey than it has (a key in a slot, then per-GUN targets
// keys for 21 GUNs on the same device: 21 of 20 retired slots) is refused
// before its first step, with no writing APDU and no PIN sent.
func TestYubiKeyPlanCapacityRefused(t *testing.T) {
	e := newYKEnv(t, 2)
	const serial = 11000004
	card := e.provisioned(0, serial, pivsim.Config{})
	guns := batchGUNs(21)
	req := filepath.Join(e.dir, "request")
	if err := offline.NewRequest(req, time.Now(), guns...); err != nil {
		t.Fatal(err)
	}
	planFile := filepath.Join(e.dir, "plan.yaml")
	plan := fmt.Sprintf(`version: 1
ceremony: capacity
operators: [alice]
airgap: not-required
devices:
  yk:
    yubikey: %d
steps:
  - generate:
      mode: on-device
      label: root
      devices: [yk]
      slot: 9c
  - init:
      guns: [%s]
      root_keys: [yk/9c]
      targets_device: yk
`, serial, strings.Join(guns, ", "))
	if err := os.WriteFile(planFile, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	card.ResetCounters()
	_, errOut, code := e.run("ceremony", "run", planFile, "--in", req, "-o", filepath.Join(e.dir, "out"), "--pin-file", e.pinFile)
	if code != exitFailed || !strings.Contains(errOut, "21 new key(s) needed") || !strings.Contains(errOut, "step 2") ||
		!strings.Contains(errOut, "20 free retired key slots") {
		t.Fatalf("plan needing 21 of 20 slots: exit %d\n%s", code, errOut)
	}
	if c := card.Counters(); c.Writes != 0 || c.PINVerifies != 0 {
		t.Errorf("the refused plan reached the card: %+v", c)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "out")); !os.IsNotExist(err) {
		t.Errorf("the refused plan wrote its output directory (%v)", err)
	}
}
