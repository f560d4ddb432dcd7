package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCrashInitKilledBeforeTheBundleIsInPlace kills init of 20 GUNs with
// SIGKILL once its bundle is written beside its place, read back and
// verified, but not yet renamed into place (the one window the staged
// write adds). Nothing is at -o; the copy beside it is the only trace.
// The rerun removes that copy and asks about the keys the journal
// announced; resumed, it writes the bundle with those keys and leaves no
// journal and no partial output.
func TestCrashInitKilledBeforeTheBundleIsInPlace(t *testing.T) {
	bin := buildKeyrite(t, "faultinject")
	e := newCrashEnv(t, bin, 20)
	cmd := e.command(e.initArgs()...)
	cmd.Env = append(cmd.Env, "KEYRITE_FAULTINJECT_WRITE=staged")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != -1 {
		t.Fatalf("not killed: exit %d, %v\n%s", code, err, out)
	}
	if _, err := os.Lstat(e.out); !os.IsNotExist(err) {
		t.Fatalf("the bundle is in place after a kill before its rename: %v", err)
	}
	partials, _ := filepath.Glob(filepath.Join(e.dir, ".signed.partial-*"))
	if len(partials) != 1 {
		t.Fatalf("staged copies beside the output: %v", partials)
	}
	left := e.keys()

	_, stderr, code := e.run(e.initArgs()...)
	if code != 1 || !strings.Contains(stderr, "an interrupted run left") || !strings.Contains(stderr, "removed "+partials[0]) {
		t.Fatalf("rerun: exit %d\n%s", code, stderr)
	}
	if _, err := os.Lstat(partials[0]); !os.IsNotExist(err) {
		t.Fatalf("the staged copy is still there: %v", err)
	}
	if _, stderr, code = e.run(e.initArgs("--resume")...); code != 0 {
		t.Fatalf("rerun --resume: exit %d\n%s", code, stderr)
	}
	if got := e.bundleKeys(); !mapsEqual(got, left) {
		t.Errorf("the bundle names other keys than the killed run made:\n  bundle: %v\n  left:   %v", got, left)
	}
	e.checkFinished()
}
