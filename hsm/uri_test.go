package hsm

import (
	"errors"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	u, err := ParseURI("pkcs11:token=cere%20mony;object=root;id=%01%02?module-path=/usr/lib/softhsm/libsofthsm2.so")
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "pkcs11" || u.Get("token") != "cere mony" || u.Get("object") != "root" || u.Get("id") != "\x01\x02" ||
		u.Get("module-path") != "/usr/lib/softhsm/libsofthsm2.so" {
		t.Fatalf("parsed %+v", u)
	}
	if !u.Has("object") || u.Has("serial") {
		t.Error("Has is wrong")
	}
	again, err := ParseURI(u.String())
	if err != nil || again.String() != u.String() {
		t.Errorf("round trip: %q -> %q (%v)", u.String(), again, err)
	}
	if got := u.Without("object", "id").String(); got != "pkcs11:token=cere%20mony?module-path=/usr/lib/softhsm/libsofthsm2.so" {
		t.Errorf("Without = %q", got)
	}
	if got := u.With("object", "other").Get("object"); got != "other" || u.Get("object") != "root" {
		t.Errorf("With changed the original or failed: %q", got)
	}
	if err := u.Allow("token", "object", "id"); err == nil || !strings.Contains(err.Error(), `unknown attribute "module-path"`) {
		t.Errorf("Allow: %v", err)
	}
}

func TestParseURIRefuses(t *testing.T) {
	for _, c := range []struct{ uri, want string }{
		{"token=x", "missing scheme"},
		{"pkcs11:token", "not name=value"},
		{"pkcs11:token=a;token=b", "given twice"},
		{"pkcs11:token=%zz", "bad percent-encoding"},
		{"pkcs11:token=a?pin-value=123456", "must not carry a secret"},
		{"yubikey:serial=1;pin=123456", "must not carry a secret"},
	} {
		_, err := ParseURI(c.uri)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.uri, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "123456") {
			t.Errorf("%q: the error echoes the secret: %v", c.uri, err)
		}
		// The advice for the operator is not part of the error.
		var hinted *HintError
		if c.want == "must not carry a secret" && (!errors.As(err, &hinted) || hinted.Hint == "" || strings.Contains(err.Error(), hinted.Hint)) {
			t.Errorf("%q: want the advice as a hint beside the error, got %v", c.uri, err)
		}
	}
}
