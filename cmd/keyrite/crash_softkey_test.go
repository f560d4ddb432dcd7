package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCrashSoftkeyBatchKilled: init of 200 GUNs with per-GUN targets keys
// on the software token, which keeps a batch's keys in memory and saves
// them once, before the bundle is sealed. Killed (SIGKILL) once the first
// GUN is signed, it leaves the token file byte for byte as it was: no key of
// the batch was stored, nothing needs cleaning, and the rerun finishes
// with every key the bundle names in the token.
func TestCrashSoftkeyBatchKilled(t *testing.T) {
	bin := buildKeyrite(t, "")
	e := newCrashEnv(t, bin, 200)
	token := filepath.Join(e.dir, "soft.softkey")
	e.uri = "softkey:file=" + token
	if _, stderr, code := e.run("key", "generate", "--device", e.uri, "--label", "root"); code != 0 {
		t.Fatalf("key generate: %d\n%s", code, stderr)
	}
	before, err := os.ReadFile(token)
	if err != nil {
		t.Fatal(err)
	}
	killed := false
	lines, _, _ := e.initUntilSigned(func(p *os.Process) { killed = p.Kill() == nil })
	if !killed {
		t.Fatalf("never killed:\n%s", strings.Join(lines, "\n"))
	}
	after, err := os.ReadFile(token)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the killed run changed the token file")
	}
	if keys := e.keys(); len(keys) != 1 || keys["root"] == "" {
		t.Errorf("token after the kill: %v, want the root key alone", keys)
	}
	if fileExists(e.out) {
		t.Error("the killed run wrote an output")
	}
	if _, stderr, code := e.run(e.initArgs()...); code != 0 {
		t.Fatalf("rerun: exit %d\n%s", code, stderr)
	}
	e.checkFinished()
}
