package pkcs11

import (
	"errors"
	"strings"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyrite/keyrite/hsm"
)

// SoftHSM cannot produce a final-try or locked PIN (it counts nothing), so
// the mapping from C_Login results and token flags is tested as a function.
func TestLoginError(t *testing.T) {
	const dev = `pkcs11 token "t" (serial 1)`
	tests := []struct {
		name    string
		rv      uint
		flags   uint
		auth    bool
		retries int
		blocked bool
		msg     string
	}{
		{"incorrect, no count", p11.CKR_PIN_INCORRECT, 0, true, -1, false, "does not report how many retries"},
		{"incorrect, count low", p11.CKR_PIN_INCORRECT, p11.CKF_USER_PIN_COUNT_LOW, true, -1, false, "wrong PIN"},
		{"incorrect, final try", p11.CKR_PIN_INCORRECT, p11.CKF_USER_PIN_FINAL_TRY | p11.CKF_USER_PIN_COUNT_LOW, true, 1, false, "1 retry left"},
		{"incorrect, now locked", p11.CKR_PIN_INCORRECT, p11.CKF_USER_PIN_LOCKED, true, 0, true, "PIN blocked"},
		{"locked", p11.CKR_PIN_LOCKED, 0, true, 0, true, "PIN blocked"},
		{"length", p11.CKR_PIN_LEN_RANGE, 0, false, 0, false, "length or characters"},
		{"expired", p11.CKR_PIN_EXPIRED, 0, false, 0, false, "expired"},
		{"other", p11.CKR_DEVICE_ERROR, 0, false, 0, false, "login"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := loginError(p11.Error(tt.rv), tt.flags, dev)
			if err == nil {
				t.Fatal("nil error")
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), dev) {
				t.Errorf("error %q: want %q and the device", err, tt.msg)
			}
			var ae *hsm.AuthError
			if errors.As(err, &ae) != tt.auth {
				t.Fatalf("errors.As AuthError = %v, want %v (%v)", !tt.auth, tt.auth, err)
			}
			if !tt.auth {
				if !errors.Is(err, p11.Error(tt.rv)) {
					t.Errorf("%v does not wrap the PKCS#11 code", err)
				}
				return
			}
			if ae.Retries != tt.retries || ae.Blocked != tt.blocked || ae.Hint == "" {
				t.Errorf("AuthError %+v, want retries %d blocked %v and a hint", ae, tt.retries, tt.blocked)
			}
		})
	}
	for _, rv := range []uint{p11.CKR_OK, p11.CKR_USER_ALREADY_LOGGED_IN} {
		var err error
		if rv != p11.CKR_OK {
			err = p11.Error(rv)
		}
		if got := loginError(err, 0, dev); got != nil {
			t.Errorf("loginError(0x%x) = %v, want nil", rv, got)
		}
	}
}
