package pkcs11

import (
	"context"
	"crypto"
	"errors"
	"strings"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyrite/keyrite/hsm"
)

func TestWrongPIN(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	k := f.generate(t, "root", "")
	if err := f.b.Close(); err != nil { // drop the login the fixture made
		t.Fatal(err)
	}

	wrong := &pinCounter{pin: "00000000"}
	u, err := hsm.ParseURI(f.hsm.URI())
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	b, err := f.d.open(ctx, u, hsm.Options{PIN: wrong, Module: f.hsm.Module, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = b.Generate(ctx, hsm.KeySpec{Label: "new"})
	var ae *hsm.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("wrong PIN: %v (%T), want *hsm.AuthError", err, err)
	}
	// SoftHSM counts no attempts and reports no retry count.
	if ae.Retries != -1 || ae.Blocked || !strings.Contains(ae.Device, f.hsm.Serial) {
		t.Errorf("AuthError %+v: want retries -1 (unknown), not blocked, naming the token", ae)
	}
	info, ierr := f.hsm2Info(b)
	if ierr == nil {
		t.Logf("SoftHSM token flags after a wrong PIN: %#x (count low %v, final try %v, locked %v)", info.Flags,
			info.Flags&p11.CKF_USER_PIN_COUNT_LOW != 0, info.Flags&p11.CKF_USER_PIN_FINAL_TRY != 0, info.Flags&p11.CKF_USER_PIN_LOCKED != 0)
	}

	// Nothing asks again or retries: every later operation gets the same
	// error without touching the PIN source or the token's counter.
	if _, err := b.List(ctx); !errors.As(err, &ae) {
		t.Errorf("List after a wrong PIN: %v", err)
	}
	opened, err := b.Open(ctx, k.URI()) // no PIN needed
	if err != nil {
		t.Fatal(err)
	}
	if _, err := opened.Sign(nil, digest256("x"), crypto.SHA256); !errors.As(err, &ae) {
		t.Errorf("Sign after a wrong PIN: %v", err)
	}
	if err := b.Delete(ctx, k.URI()); !errors.As(err, &ae) {
		t.Errorf("Delete after a wrong PIN: %v", err)
	}
	if n := wrong.count(); n != 1 {
		t.Errorf("PIN source asked %d times, want exactly 1", n)
	}
	if log.Len() != 0 {
		t.Errorf("unexpected operator messages: %q", log.String())
	}

	// The next backend is warned that a wrong PIN was entered before.
	log.Reset()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2, err := f.d.open(ctx, u, hsm.Options{PIN: &pinCounter{pin: f.hsm.PIN}, Module: f.hsm.Module, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if _, err := b2.List(ctx); err != nil {
		t.Fatalf("right PIN after a wrong one: %v", err)
	}
	if !strings.Contains(log.String(), "a wrong PIN was entered since the last successful login") {
		t.Errorf("no warning about the earlier wrong PIN: %q", log.String())
	}
	b2.mu.Lock()
	hs, err := b2.findLocked(selTemplate(keySelector{label: "new"}))
	b2.mu.Unlock()
	if err != nil || len(hs) != 0 {
		t.Errorf("a key was generated with a wrong PIN (%d objects, %v)", len(hs), err)
	}
}

func TestNoPINSource(t *testing.T) {
	f := newFixture(t)
	if err := f.b.Close(); err != nil {
		t.Fatal(err)
	}
	b := f.open(t, f.hsm.URI(), nil)
	defer b.Close()
	if _, err := b.List(context.Background()); err == nil || !strings.Contains(err.Error(), "no PIN source") {
		t.Errorf("List without a PIN source: %v", err)
	}
}

func TestPINSourceError(t *testing.T) {
	f := newFixture(t)
	if err := f.b.Close(); err != nil {
		t.Fatal(err)
	}
	cancelled := errors.New("prompt cancelled")
	n := 0
	b := f.open(t, f.hsm.URI(), hsm.PINFunc(func(context.Context, hsm.PINRequest) ([]byte, error) {
		n++
		return nil, cancelled
	}))
	defer b.Close()
	for i := 0; i < 2; i++ {
		if _, err := b.List(context.Background()); !errors.Is(err, cancelled) {
			t.Errorf("List with a failing PIN source: %v", err)
		}
	}
	if n != 1 {
		t.Errorf("PIN source asked %d times, want 1", n)
	}
}

// hsm2Info reads the token info through a backend's module.
func (f *fixture) hsm2Info(b *Backend) (p11.TokenInfo, error) {
	return b.ctx().GetTokenInfo(b.tok.slot)
}
