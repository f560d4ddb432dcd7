package session

import "fmt"

// Errors of the operations, typed and free of command-line wording: what
// the operator should do next is the command line's hint, which knows its
// own flags.

// MissingInputError is an operation given none of something it needs.
type MissingInputError struct {
	What string // "root key", "new root key", "key", "signer key", "device", "custodian", "backup directory", "record directory"
}

func (e *MissingInputError) Error() string { return fmt.Sprintf("no %s given", e.What) }

// ConfirmationError is an irreversible step the operator did not confirm:
// nothing was done.
type ConfirmationError struct {
	Action string
	What   string
	Typed  string // what was typed instead; empty when nobody could be asked
}

func (e *ConfirmationError) Error() string {
	if e.Typed == "" {
		return fmt.Sprintf("not confirmed: nothing was done (%s)", e.Action)
	}
	return fmt.Sprintf("the %s typed (%s) does not match: not confirmed, nothing was done (%s)", e.What, e.Typed, e.Action)
}

// NotInRequestError is a GUN the request bundle does not carry.
type NotInRequestError struct{ GUN, Request string }

func (e *NotInRequestError) Error() string {
	return fmt.Sprintf("%s is not in the request bundle %s: fetch it first", e.GUN, e.Request)
}

// NotOnServerError is a change to a repository the server does not have
// yet.
type NotOnServerError struct{ GUN string }

func (e *NotOnServerError) Error() string {
	return fmt.Sprintf("%s does not exist on the server yet", e.GUN)
}

// NotPinnedError is a signed bundle written and verified whose roots the
// trust store could not pin. The bundle stands, with the keys it names:
// nothing of it is rolled back.
type NotPinnedError struct {
	Bundle string
	Err    error
}

func (e *NotPinnedError) Error() string {
	return fmt.Sprintf("the bundle %s is written and verified, but its roots could not be pinned in the trust store: %v", e.Bundle, e.Err)
}

func (e *NotPinnedError) Unwrap() error { return e.Err }
