package main

import (
	"regexp"
	"strings"
	"testing"
)

// notationCode matches the Notary Project's libraries: the judges of
// keyrite ca's certificates in the tests, never linked into keyrite,
// which builds what it signs with crypto/x509 alone (package ca).
var notationCode = regexp.MustCompile(`github\.com/notaryproject/|github\.com/veraison/go-cose|go-ldap`)

func TestNoNotationInBinary(t *testing.T) {
	var bad []string
	for _, p := range keyriteDeps(t) {
		if notationCode.MatchString(p) {
			bad = append(bad, p)
		}
	}
	if len(bad) > 0 {
		t.Errorf("the keyrite binary links notation-go, a test dependency only:\n  %s", strings.Join(bad, "\n  "))
	}
	// The same pattern finds notation-go in the tests: it checks something.
	found := false
	for _, p := range keyriteDeps(t, "-test") {
		found = found || p == "github.com/notaryproject/notation-go/verifier"
	}
	if !found {
		t.Error("go list -deps -test does not show notation-go's verifier: this test checks nothing")
	}
}
