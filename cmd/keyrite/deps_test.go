package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// serverCode matches notary's server code and what it drags in. The keyrite
// binary goes into the air-gapped room and must link none of it; the
// in-process notary-server of rehearsals lives in keyrite-rehearse.
var serverCode = regexp.MustCompile(`notary/server|jinzhu/gorm|go-sql-driver|rethinkdb|bugsnag|prometheus|gorilla/mux`)

// TestNoServerCode fails when the keyrite binary links server packages
// again, naming each one.
func TestNoServerCode(t *testing.T) {
	pkgs := keyriteDeps(t)
	var bad []string
	for _, p := range pkgs {
		if serverCode.MatchString(p) {
			bad = append(bad, p)
		}
	}
	if len(bad) > 0 {
		t.Errorf("the keyrite binary links server code it must not carry into the air-gapped room:\n  %s\n"+
			"(go list -deps ./cmd/keyrite; the rehearsal's in-process server belongs in cmd/keyrite-rehearse)",
			strings.Join(bad, "\n  "))
	}
}

// keyriteDeps lists the packages the keyrite binary links (go list
// -deps), with extra flags (-test: its tests' too).
func keyriteDeps(t *testing.T, flags ...string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	args := append(append([]string{"list", "-deps"}, flags...), "github.com/keyrite/keyrite/cmd/keyrite")
	out, err := exec.Command(goBin, args...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s list -deps: %v\n%s", goBin, err, stderr)
	}
	if !strings.Contains(string(out), "github.com/keyrite/keyrite/cmd/keyrite") {
		t.Fatalf("go list -deps printed no keyrite package:\n%s", out)
	}
	return strings.Fields(string(out))
}

// TestNoFaultInjection fails when the keyrite binary carries the
// test-only fault injection (hsm/pkcs11/faultinject.go, built only with
// -tags faultinject), which kills the process at a PKCS#11 call chosen
// through the environment.
func TestNoFaultInjection(t *testing.T) {
	b, err := os.ReadFile(buildKeyrite(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("KEYRITE_FAULTINJECT")) {
		t.Error("the keyrite binary contains the fault injection of the crash tests")
	}
	fi, err := os.ReadFile(buildKeyrite(t, "faultinject"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(fi, []byte("KEYRITE_FAULTINJECT_AFTER")) {
		t.Error("the faultinject build lacks the fault injection: this test checks nothing")
	}
}
