package hsm

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned when a key or object a URI names does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned when a key with the requested label already exists.
var ErrExists = errors.New("already exists")

// AuthError reports a rejected PIN or passphrase. No second attempt is ever
// made automatically: a retry could lock the device.
type AuthError struct {
	Device  string
	Retries int    // attempts left; -1 when the device does not say
	Blocked bool   // no attempts left: the PIN is blocked
	What    string // "PIN" (default) or "passphrase"
	Hint    string
	// NotTried: the PIN was not presented at all (one attempt left, and a
	// wrong PIN would block the device).
	NotTried bool
}

func (e *AuthError) Error() string {
	what := e.What
	if what == "" {
		what = "PIN"
	}
	switch {
	case e.NotTried:
		return fmt.Sprintf("%s: %s not tried: %d %s left, and a wrong %s would block it", e.Device, what, e.Retries, plural(e.Retries, "attempt", "attempts"), what)
	case e.Blocked:
		return fmt.Sprintf("%s: %s blocked", e.Device, what)
	case e.Retries >= 0:
		return fmt.Sprintf("%s: wrong %s (%d %s left)", e.Device, what, e.Retries, plural(e.Retries, "retry", "retries"))
	case what != "PIN":
		return fmt.Sprintf("%s: wrong %s", e.Device, what)
	default:
		return fmt.Sprintf("%s: wrong PIN (the device does not report how many retries are left)", e.Device)
	}
}

// HintError is an error with advice for the operator attached: what to do
// next, in terms only the backend knows (a device tool, a URI attribute, a
// command that sets the device up). Error is the error alone, so that the
// advice stays out of messages that callers wrap; the command line shows
// Hint after the error. AuthError has a Hint of its own.
type HintError struct {
	Err  error
	Hint string
}

func (e *HintError) Error() string { return e.Err.Error() }
func (e *HintError) Unwrap() error { return e.Err }

// DeviceAbsentError reports that the device a URI names is not attached.
type DeviceAbsentError struct {
	Device string // what was asked for, e.g. `pkcs11 token "ceremony"`
	Seen   []string
}

func (e *DeviceAbsentError) Error() string {
	if len(e.Seen) == 0 {
		return fmt.Sprintf("%s not found: no device attached", e.Device)
	}
	return fmt.Sprintf("%s not found (attached: %s)", e.Device, joinQuoted(e.Seen))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func joinQuoted(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%q", v)
	}
	return out
}
