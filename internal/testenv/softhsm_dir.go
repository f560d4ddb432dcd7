package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// NewSoftHSMDir is NewSoftHSM for code that has no *testing.T, such as a
// testscript Setup function: it writes softhsm2.conf and a token directory
// under dir (which must exist), initialises one token with the given label
// and a random user PIN, and writes the PIN to dir/pin.txt (mode 0600, no
// newline). It does not touch this process's environment: point
// SOFTHSM2_CONF at the returned ConfPath in the environment of the
// processes that should see the token.
//
// The result's AddToken must not be called: it reports failures through
// the testing.TB that only NewSoftHSM has.
func NewSoftHSMDir(dir, label string) (*SoftHSM, error) {
	module, err := SoftHSMModule()
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		return nil, errors.New("softhsm2-util not found in PATH: run scripts/setup")
	}
	tokens := filepath.Join(dir, "softhsm-tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	text := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	pin, err := softhsmRandomHexErr(8)
	if err != nil {
		return nil, err
	}
	soPIN, err := softhsmRandomHexErr(8)
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
	pinFile := filepath.Join(dir, "pin.txt")
	if err := os.WriteFile(pinFile, []byte(pin), 0o600); err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	if err := os.Chmod(pinFile, 0o600); err != nil { // WriteFile keeps an existing file's mode
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	return &SoftHSM{
		Module: module, ConfPath: conf, TokenDir: tokens,
		Label: label, Serial: serial, PIN: pin, PINFile: pinFile, Slot: slot,
		dir: dir,
	}, nil
}

func softhsmRandomHexErr(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("softhsm: %w", err)
	}
	return hex.EncodeToString(b), nil
}
