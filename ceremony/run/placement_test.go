package run

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A plan whose root key is on a YubiKey is rehearsed with the targets keys
// where the real run puts them: one key for the batch, although the
// rehearsal's software token would take a key per GUN.
const yubikeyRoot = `version: 1
ceremony: yubikey-root
operators: [op]
airgap: not-required
devices:
  y: {yubikey: 7000002}
steps:
  - init: {guns: [example.com/run/a, example.com/run/b, example.com/run/c], root_keys: [y/9c]}
`

func TestRehearseYubiKeyRootBatchTargets(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if _, err := Rehearse(context.Background(), testEnv(), Options{Plan: writePlan(t, dir, yubikeyRoot), Out: out, Yes: true}); err != nil {
		t.Fatal(err)
	}
	transcript, err := os.ReadFile(filepath.Join(StepDir(out, 1, "init"), "signed", "transcript.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, part := range strings.Split(string(transcript), `"targets_key_id":"`)[1:] {
		ids[part[:64]] = true
	}
	if !strings.Contains(string(transcript), `"targets_placement":"batch"`) || len(ids) != 1 {
		t.Errorf("the rehearsed init does not place one targets key for the batch (%d keys):\n%s", len(ids), transcript)
	}
}
