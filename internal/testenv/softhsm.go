// Package testenv starts the real components keyrite's tests run against:
// SoftHSM tokens and a notary-server. A missing component fails the test
// with a hint to run scripts/setup; it is never skipped, so CI cannot pass
// without exercising the code.
package testenv

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// softhsmModulePaths are the places Debian installs the SoftHSM2 PKCS#11
// module, in the order they are tried.
var softhsmModulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
}

// SoftHSM is one initialised SoftHSM2 token in a private configuration.
//
// SoftHSM reads SOFTHSM2_CONF once, in C_Initialize, so a process sees one
// SoftHSM configuration at a time. Tests that use NewSoftHSM therefore must
// not run in parallel (t.Setenv enforces it), and a PKCS#11 driver must be
// created after NewSoftHSM and closed (finalizing the module) before the
// next test's NewSoftHSM, or it keeps seeing the previous tokens.
type SoftHSM struct {
	Module   string // path of libsofthsm2.so
	ConfPath string // softhsm2.conf, exported as SOFTHSM2_CONF
	TokenDir string // directories.tokendir of ConfPath
	Label    string // token label
	Serial   string // token serial as SoftHSM reports it (16 hex digits)
	PIN      string // user PIN, random per token
	PINFile  string // file holding PIN (no newline), mode 0600, for CLI tests
	Slot     string // slot ID SoftHSM reassigned the token to (decimal)

	t   testing.TB
	dir string
}

// SoftHSMModule returns the path of the SoftHSM2 PKCS#11 module, or an
// error with a hint when SoftHSM2 is not installed.
func SoftHSMModule() (string, error) {
	for _, p := range softhsmModulePaths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("softhsm2 PKCS#11 module not found (tried %s): run scripts/setup", strings.Join(softhsmModulePaths, ", "))
}

// NewSoftHSM writes a softhsm2.conf with an empty token directory under
// t.TempDir(), points SOFTHSM2_CONF at it for the rest of the test and
// initialises a token with the given label and a random user PIN.
func NewSoftHSM(t testing.TB, label string) *SoftHSM {
	t.Helper()
	s, err := NewSoftHSMDir(t.TempDir(), label)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Setenv("SOFTHSM2_CONF", s.ConfPath)
	s.t = t
	return s
}

// AddToken initialises another token in the same configuration and returns
// it; Module, ConfPath and TokenDir are shared. Call it before creating the
// driver that should see the token: SoftHSM lists tokens at C_Initialize.
// Labels may repeat, which is how tests get an ambiguous token URI. Only
// tokens made by NewSoftHSM have a test to report to.
func (s *SoftHSM) AddToken(label string) *SoftHSM {
	s.t.Helper()
	tok, err := softhsmInitToken(s.Module, s.ConfPath, s.TokenDir, s.dir, label)
	if err != nil {
		s.t.Fatalf("%v", err)
	}
	tok.t = s.t
	return tok
}

// softhsmInitToken initialises one token in an existing configuration and
// writes its random PIN to a 0600 file in dir.
func softhsmInitToken(module, conf, tokens, dir, label string) (*SoftHSM, error) {
	pin, err := softhsmRandomHex(8)
	if err != nil {
		return nil, err
	}
	soPIN, err := softhsmRandomHex(8)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), "SOFTHSM2_CONF="+conf)
	cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", soPIN, "--pin", pin)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("softhsm2-util --init-token --label %s: %v\n%s", label, err, out)
	}
	slot, err := softhsmParseInitSlot(string(out))
	if err != nil {
		return nil, fmt.Errorf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	cmd = exec.Command("softhsm2-util", "--show-slots")
	cmd.Env = env
	out, err = cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("softhsm2-util --show-slots: %w", err)
	}
	serial, err := softhsmParseSerial(string(out), slot)
	if err != nil {
		return nil, fmt.Errorf("softhsm2-util --show-slots: %v\n%s", err, out)
	}
	pinFile, err := os.CreateTemp(dir, "pin-*")
	if err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	defer pinFile.Close()
	// CreateTemp already uses 0600; Chmod states the requirement.
	if err := pinFile.Chmod(0o600); err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	if _, err := pinFile.WriteString(pin); err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	return &SoftHSM{Module: module, ConfPath: conf, TokenDir: tokens,
		Label: label, Serial: serial, PIN: pin, PINFile: pinFile.Name(), Slot: slot, dir: dir}, pinFile.Close()
}

// URI is the PKCS#11 URI of the token, e.g. pkcs11:token=test;serial=...
func (s *SoftHSM) URI() string {
	return "pkcs11:token=" + s.Label + ";serial=" + s.Serial
}

func softhsmRandomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("softhsm: %w", err)
	}
	return hex.EncodeToString(b), nil
}

var softhsmReassigned = regexp.MustCompile(`reassigned to slot (\d+)`)

// softhsmParseInitSlot reads the slot a freshly initialised token moved to:
// SoftHSM renumbers the slot from the token's serial, so the slot printed
// by --init-token is the reliable handle on the new token when labels repeat.
func softhsmParseInitSlot(out string) (string, error) {
	m := softhsmReassigned.FindStringSubmatch(out)
	if m == nil {
		return "", errors.New("no \"reassigned to slot N\" in output")
	}
	return m[1], nil
}

// softhsmParseSerial finds the token serial of one slot in the output of
// softhsm2-util --show-slots.
func softhsmParseSerial(out, slot string) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	in := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Slot ") {
			in = strings.TrimSpace(strings.TrimPrefix(line, "Slot ")) == slot
			continue
		}
		if !in {
			continue
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Serial number:"); ok {
			if serial := strings.TrimSpace(v); serial != "" {
				return serial, nil
			}
			return "", fmt.Errorf("slot %s has an empty serial number", slot)
		}
	}
	return "", fmt.Errorf("slot %s not listed", slot)
}
