package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/internal/testenv"
)

// TestProgress: on a terminal a bar with count, rate and time left; on
// anything else plain lines, the first and the last item always.
func TestProgress(t *testing.T) {
	var tty bytes.Buffer
	p := &batchProgress{w: &tty, verb: "signed", tty: true}
	for i := 1; i <= 3; i++ {
		p.item(i, 3, "example.com/app", "signed")
	}
	if out := tty.String(); !strings.Contains(out, "3/3") || !strings.Contains(out, "repos/s") || !strings.Contains(out, "100%") {
		t.Errorf("progress bar:\n%q", out)
	}
	var plain bytes.Buffer
	p = &batchProgress{w: &plain, verb: "signed"}
	for i := 1; i <= 50; i++ {
		p.item(i, 50, "example.com/app", "signed")
	}
	lines := strings.Split(strings.TrimSpace(plain.String()), "\n")
	if len(lines) != 2 || lines[0] != "keyrite: [1/50] signed example.com/app" || lines[1] != "keyrite: [50/50] signed example.com/app" {
		t.Errorf("plain progress of a fast batch: %q", lines)
	}
}

// TestVerboseNoSecrets: --verbose writes structured lines to stderr, and a
// PIN read from --pin-file never appears in them; with --json stdout stays
// one JSON value.
func TestVerboseNoSecrets(t *testing.T) {
	h := testenv.NewSoftHSM(t, "ceremony")
	pin, err := os.ReadFile(h.PINFile)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(pin))
	stdout, stderr, code := runKeyrite(t, "key", "generate", "--device", "pkcs11:token=ceremony", "--label", "v", "--json", "--verbose",
		"--pin-file", h.PINFile, "--module", h.Module)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"level=DEBUG", `msg="command start"`, `msg="secret requested"`, "from=\"file " + h.PINFile + "\"", `msg="command done"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("--verbose log lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, secret) || strings.Contains(stdout, secret) {
		t.Fatalf("the PIN appears in the output with --verbose:\n%s", stderr)
	}
	var v map[string]any
	if dec := json.NewDecoder(strings.NewReader(stdout)); dec.Decode(&v) != nil || dec.More() {
		t.Errorf("--json --verbose stdout is not one JSON value:\n%s", stdout)
	}
	// A wrong PIN from a file: the failure is logged, the PIN is not.
	wrong := t.TempDir() + "/wrong.pin"
	os.WriteFile(wrong, []byte("wrong-pin-7731\n"), 0o600)
	_, stderr, code = runKeyrite(t, "key", "generate", "--device", "pkcs11:token=ceremony", "--label", "w", "--verbose", "--pin-file", wrong, "--module", h.Module)
	if code != exitDevice || !strings.Contains(stderr, `msg="command failed" exit_code=3`) || strings.Contains(stderr, "wrong-pin-7731") {
		t.Errorf("wrong PIN with --verbose: exit %d\n%s", code, stderr)
	}
}
