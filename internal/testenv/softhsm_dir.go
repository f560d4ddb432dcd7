package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// NewSoftHSMDir is NewSoftHSM for code that has no *testing.T, such as a
// testscript Setup function: it writes softhsm2.conf and a token directory
// under dir (which must exist), initialises one token with the given label
// and a random user PIN, and writes the PIN to a 0600 file (PINFile). It
// does not touch this process's environment: point SOFTHSM2_CONF at the
// returned ConfPath in the environment of the processes that should see
// the token.
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
	// log.level ERROR keeps SoftHSM's syslog chatter out of test output;
	// slots.removable false matches a fixed HSM.
	text := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	return softhsmInitToken(module, conf, tokens, dir, label)
}
