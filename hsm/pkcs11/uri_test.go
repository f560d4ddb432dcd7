package pkcs11

import (
	"bytes"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm"
)

func TestParseURIErrors(t *testing.T) {
	tests := []struct {
		uri, want string
	}{
		{"pkcs11:token=a;objet=root", `unknown attribute "objet"`},
		{"pkcs11:token=a;slot-id=x", "slot-id must be a decimal number"},
		{"pkcs11:token=a;slot-id=-1", "slot-id must be a decimal number"},
		{"pkcs11:token=a;module-path=/x.so", "module-path is a query attribute"},
		{"pkcs11:object=root?token=a", `"token" belongs in the path`},
		{"pkcs11:token=;object=root", "token is empty"},
		{"pkcs11:token=a;id=", "id is empty"},
		{"pkcs11:token=a?module-path=", "module-path is empty"},
		{"yubikey:slot=9c", `scheme "yubikey" is not pkcs11`},
		{"pkcs11:token=a;type=private", `unknown attribute "type"`},
	}
	for _, tt := range tests {
		u, err := hsm.ParseURI(tt.uri)
		if err != nil {
			t.Fatalf("ParseURI(%q): %v", tt.uri, err)
		}
		_, err = parseURI(u)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseURI(%q) = %v, want error containing %q", tt.uri, err, tt.want)
		}
	}
	// Secrets never reach this package: hsm.ParseURI refuses them.
	if _, err := hsm.ParseURI("pkcs11:token=a?pin-value=1234"); err == nil {
		t.Errorf("a URI with pin-value parsed")
	}
}

func TestParseURISelectors(t *testing.T) {
	u, err := hsm.ParseURI("pkcs11:token=my%20token;serial=abc;slot-id=7;object=root;id=%01%FF?module-path=/lib/m.so")
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseURI(u)
	if err != nil {
		t.Fatal(err)
	}
	if s.tok.label != "my token" || s.tok.serial != "abc" || !s.tok.hasSlot || s.tok.slot != 7 {
		t.Errorf("token selector %+v", s.tok)
	}
	if s.key.label != "root" || !bytes.Equal(s.key.id, []byte{1, 0xff}) {
		t.Errorf("key selector %+v", s.key)
	}
	if got := s.tok.String(); got != `pkcs11 token "my token" serial abc slot 7` {
		t.Errorf("selector String() = %q", got)
	}
	if got := s.key.String(); got != "object=root;id=01ff" {
		t.Errorf("key selector String() = %q", got)
	}
}

func TestKeyURIRoundTrip(t *testing.T) {
	id := []byte{0x00, 'A', 0x25, 0xff}
	got := keyURI(tokenInfo{label: "cere mony", serial: "1a2b"}, "root;key", id, "/opt/hsm/lib p11.so")
	want := "pkcs11:token=cere%20mony;serial=1a2b;object=root%3Bkey;id=%00%41%25%FF?module-path=/opt/hsm/lib%20p11.so"
	if got != want {
		t.Errorf("keyURI =\n %s\nwant\n %s", got, want)
	}
	u, err := hsm.ParseURI(got)
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseURI(u)
	if err != nil {
		t.Fatal(err)
	}
	if s.tok.label != "cere mony" || s.key.label != "root;key" || !bytes.Equal(s.key.id, id) || u.Get("module-path") != "/opt/hsm/lib p11.so" {
		t.Errorf("round trip lost something: %+v, module-path %q", s, u.Get("module-path"))
	}
	if got := tokenURI(tokenInfo{label: "t", serial: "s"}, ""); got != "pkcs11:token=t;serial=s" {
		t.Errorf("tokenURI = %q", got)
	}
}
