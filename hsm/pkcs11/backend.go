package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyrite/keyrite/hsm"
)

// Backend is one opened PKCS#11 token. It holds one session, shared by its
// keys and serialised by a mutex: PKCS#11 sessions are not safe for
// concurrent operations.
type Backend struct {
	tok       token
	opts      hsm.Options
	uriModule string // module-path from the URI, repeated in URIs we print
	device    string // describe(tok.info)
	forget    func() // removes the backend from its driver

	mu       sync.Mutex
	session  p11.SessionHandle
	closed   bool
	loggedIn bool  // the session can see private objects
	loginErr error // the first failure, returned again: a PIN is asked once
	// labels counts the objects of each label on the token, listed once
	// at the first key this backend creates and kept up to date by it
	// (see labelIndexLocked): a batch of key creations checks its labels
	// without a search over the whole token each time.
	labels map[string]int
}

var _ hsm.Backend = (*Backend)(nil)

// Session states from the PKCS#11 specification; miekg/pkcs11 v1.0.2, the
// version go.mod selects, does not define them.
const (
	cksROUserFunctions = 1
	cksRWUserFunctions = 3
)

func openBackend(t token, opts hsm.Options, uriModule string) (*Backend, error) {
	c := t.mod.ctx
	faultPoint()
	sh, err := c.OpenSession(t.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if errors.Is(err, p11.Error(p11.CKR_TOKEN_WRITE_PROTECTED)) {
		// A read-only token can still sign and list; generating will
		// fail with the token's own error.
		faultPoint()
		sh, err = c.OpenSession(t.slot, p11.CKF_SERIAL_SESSION)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: open session: %w", describe(t.info), err)
	}
	t.mod.addSession(t.slot)
	return &Backend{tok: t, opts: opts, uriModule: uriModule, device: describe(t.info), session: sh}, nil
}

// ctx is the module's context for one PKCS#11 call: every call a backend
// makes goes through it (a test build counts them, see faultPoint).
func (b *Backend) ctx() *p11.Ctx {
	faultPoint()
	return b.tok.mod.ctx
}

func (b *Backend) info() tokenInfo {
	return tokenInfo{label: b.tok.info.Label, serial: b.tok.info.SerialNumber}
}

// Info describes the token.
func (b *Backend) Info() hsm.DeviceInfo {
	return deviceInfo(b.tok.info, b.uriModule)
}

func deviceInfo(info p11.TokenInfo, modulePath string) hsm.DeviceInfo {
	d := hsm.DeviceInfo{
		URI:          tokenURI(tokenInfo{label: info.Label, serial: info.SerialNumber}, modulePath),
		Kind:         Scheme,
		Label:        info.Label,
		Serial:       info.SerialNumber,
		Manufacturer: info.ManufacturerID,
		Model:        info.Model,
		Firmware:     fmt.Sprintf("%d.%d", info.FirmwareVersion.Major, info.FirmwareVersion.Minor),
	}
	// SoftHSM keeps keys in files of the host: a rehearsal, not a ceremony.
	if info.ManufacturerID == "SoftHSM project" || strings.HasPrefix(info.Model, "SoftHSM") {
		d.Software = true
		d.Warnings = append(d.Warnings, "SoftHSM is a software token: its keys are files on this computer; use it for rehearsals only")
	}
	return d
}

// Close closes the session, logging out first when it is this process's
// last session on the token (logging out earlier would log out the other
// backends' sessions too). It does not finalize the module: other backends
// may share it (Driver.Close does that).
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.forget != nil {
		b.forget()
	}
	var errs []error
	if b.tok.mod.dropSession(b.tok.slot) && b.loggedIn {
		if err := b.ctx().Logout(b.session); err != nil && !errors.Is(err, p11.Error(p11.CKR_USER_NOT_LOGGED_IN)) {
			errs = append(errs, fmt.Errorf("%s: logout: %w", b.device, err))
		}
	}
	if err := b.ctx().CloseSession(b.session); err != nil {
		errs = append(errs, fmt.Errorf("%s: close session: %w", b.device, err))
	}
	return errors.Join(errs...)
}

// usableLocked checks that the backend may be used now.
func (b *Backend) usableLocked(ctx context.Context) error {
	if b.closed {
		return fmt.Errorf("%s: backend is closed", b.device)
	}
	return ctx.Err()
}

// loginLocked logs the session in as the user, asking the PIN source once
// per backend. A failure is remembered and returned again: a second attempt
// with the same PIN would only burn another retry.
func (b *Backend) loginLocked(ctx context.Context) error {
	if b.loggedIn {
		return nil
	}
	if b.loginErr != nil {
		return b.loginErr
	}
	if si, err := b.ctx().GetSessionInfo(b.session); err == nil &&
		(si.State == cksROUserFunctions || si.State == cksRWUserFunctions) {
		// Another backend of this process logged the token in already.
		b.loggedIn = true
		return nil
	}
	if info, err := b.ctx().GetTokenInfo(b.tok.slot); err == nil {
		if info.Flags&p11.CKF_USER_PIN_LOCKED != 0 {
			// Asking would be pointless; say so before anyone types.
			b.loginErr = loginError(p11.Error(p11.CKR_PIN_LOCKED), info.Flags, b.device)
			return b.loginErr
		}
		switch {
		case info.Flags&p11.CKF_USER_PIN_FINAL_TRY != 0:
			logf(b.opts.Log, "warning: %s: one PIN attempt left; a wrong PIN now blocks the token", b.device)
		case info.Flags&p11.CKF_USER_PIN_COUNT_LOW != 0:
			logf(b.opts.Log, "warning: %s: a wrong PIN was entered since the last successful login", b.device)
		}
	}
	if b.opts.PIN == nil {
		b.loginErr = fmt.Errorf("%s: a PIN is needed but no PIN source was given", b.device)
		return b.loginErr
	}
	pin, err := b.opts.PIN.PIN(ctx, hsm.PINRequest{Device: b.device, Kind: "PIN"})
	if err != nil {
		b.loginErr = fmt.Errorf("%s: read PIN: %w", b.device, err)
		return b.loginErr
	}
	err = b.ctx().Login(b.session, p11.CKU_USER, pinString(pin))
	hsm.Wipe(pin)
	if err == nil {
		b.loggedIn = true
		return nil
	}
	var flags uint
	if info, ierr := b.ctx().GetTokenInfo(b.tok.slot); ierr == nil {
		flags = info.Flags
	}
	if lerr := loginError(err, flags, b.device); lerr != nil {
		b.loginErr = lerr
		return lerr
	}
	// Already logged in by another session of this process: the login
	// state is per token, so this session sees private objects too.
	b.loggedIn = true
	return nil
}

// pinString views the PIN bytes as a string without copying them, so that
// wiping the bytes wipes the only Go copy. miekg/pkcs11 copies the string
// to C memory for the call and frees it (unwiped); nothing keeps the string.
func pinString(pin []byte) string {
	if len(pin) == 0 {
		return ""
	}
	return unsafe.String(&pin[0], len(pin))
}

// loginError maps a C_Login result and the token flags read right after it
// to keyrite's errors. It returns nil when the session ends up logged in.
func loginError(err error, flags uint, device string) error {
	switch {
	case err == nil, errors.Is(err, p11.Error(p11.CKR_USER_ALREADY_LOGGED_IN)):
		return nil
	case errors.Is(err, p11.Error(p11.CKR_PIN_LOCKED)):
		return &hsm.AuthError{Device: device, Retries: 0, Blocked: true,
			Hint: "the user PIN is blocked; unblock it with the security officer PIN using the token's own tools"}
	case errors.Is(err, p11.Error(p11.CKR_PIN_INCORRECT)):
		e := &hsm.AuthError{Device: device, Retries: -1,
			Hint: "keyrite never retries a PIN by itself; check the PIN before running the command again"}
		switch {
		case flags&p11.CKF_USER_PIN_LOCKED != 0:
			e.Retries, e.Blocked = 0, true
			e.Hint = "that was the last attempt: the user PIN is now blocked; unblock it with the security officer PIN"
		case flags&p11.CKF_USER_PIN_FINAL_TRY != 0:
			e.Retries = 1
			e.Hint = "one attempt left: a wrong PIN now blocks the token"
		case flags&p11.CKF_USER_PIN_COUNT_LOW != 0:
			// COUNT_LOW means "a wrong PIN since the last good login", not
			// a number; SoftHSM sets it and never locks.
			e.Hint = "the token counts wrong PINs since the last successful login; " + e.Hint
		}
		return e
	case errors.Is(err, p11.Error(p11.CKR_PIN_LEN_RANGE)), errors.Is(err, p11.Error(p11.CKR_PIN_INVALID)):
		return fmt.Errorf("%s: the token rejects the PIN's length or characters: %w", device, err)
	case errors.Is(err, p11.Error(p11.CKR_PIN_EXPIRED)):
		return fmt.Errorf("%s: the PIN has expired; change it with the token's own tools: %w", device, err)
	case errors.Is(err, p11.Error(p11.CKR_USER_PIN_NOT_INITIALIZED)):
		return fmt.Errorf("%s: the token has no user PIN yet; initialise it first: %w", device, err)
	}
	return fmt.Errorf("%s: login: %w", device, err)
}
