package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/recovery"
	"github.com/keyrite/keyrite/trust"
)

// The incident paths' refusals carry their exit code and a hint naming
// what to do, also when wrapped.
func TestClassifyIncident(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		code int
		hint string
	}{
		{"request without a delegation role", fmt.Errorf("x: %w", &trust.MissingDelegationError{GUN: "example.com/app", Role: "targets/releases"}), exitVerifyKO, "lacks targets/releases, the online machine"},
		{"unknown signer", &recovery.SignerNotFoundError{GUN: "example.com/app", Signer: "nobody"}, exitFailed, "docker trust inspect example.com/app lists the signers"},
		{"delegation threshold", &session.MissingKeysError{GUN: "example.com/app", Role: "targets/releases", Threshold: 1}, exitFailed, "--signer-key FILE"},
		{"targets threshold", &session.MissingKeysError{GUN: "example.com/app", Role: "targets", Threshold: 1}, exitFailed, "bring the targets keys"},
		{"kept tag unknown", &recovery.KeepError{Tags: []string{"v9"}}, exitFailed, "--keep names tags from the review"},
		{"signer key file", &recovery.SignerKeyError{Path: "k", Reason: "x"}, exitFailed, "docker trust key generate wrote"},
	} {
		code, hint := classify(c.err)
		if code != c.code || !strings.Contains(hint, c.hint) {
			t.Errorf("%s: got %d %q, want %d with %q", c.name, code, hint, c.code, c.hint)
		}
	}
}
