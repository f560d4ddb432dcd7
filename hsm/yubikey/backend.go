package yubikey

import (
	"errors"
	"fmt"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/keyrite/keyrite/hsm"
)

// Backend is one opened YubiKey. Its connection is shared with the other
// backends the driver opened on the same serial; every operation holds the
// device lock.
type Backend struct {
	dev    *device
	opts   hsm.Options
	sel    selector
	closed bool
}

var _ hsm.Backend = (*Backend)(nil)

// Info describes the YubiKey.
func (b *Backend) Info() hsm.DeviceInfo { return deviceInfo(b.dev.c) }

// Close releases the backend's share of the connection.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	return b.dev.drv.release(b.dev)
}

// lock takes the device lock and returns the open connection.
func (b *Backend) lock() (*piv.YubiKey, func(), error) {
	if b.closed {
		return nil, nil, fmt.Errorf("%s: backend is closed", b.dev.name())
	}
	b.dev.mu.Lock()
	unlock := b.dev.mu.Unlock
	if b.dev.gone != nil {
		unlock()
		return nil, nil, b.dev.gone
	}
	if b.dev.c.yk == nil {
		unlock()
		return nil, nil, fmt.Errorf("%s: connection closed", b.dev.name())
	}
	return b.dev.c.yk, unlock, nil
}

// check turns a PC/SC failure that means the card went away into a
// DeviceAbsentError (remembered: the connection is dead), and names the
// device in every other error.
func (b *Backend) check(err error, what string) error {
	if err == nil {
		return nil
	}
	if isRemoved(err) || b.vanished(err) {
		b.dev.gone = fmt.Errorf("%s: %s: %w", b.dev.name(), what, &hsm.DeviceAbsentError{
			Device: b.dev.name() + " (removed while keyrite was using it)"})
		return b.dev.gone
	}
	return fmt.Errorf("%s: %s: %w", b.dev.name(), what, err)
}

// vanished asks the card whether it is still there when an error carries
// no status word from it: a card pulled out in the middle of an APDU can
// surface as a short or empty response ("scard response too short")
// rather than as one of the removal messages pcsc-lite has words for.
func (b *Backend) vanished(err error) bool {
	var answered interface{ Status() uint16 }
	var auth piv.AuthErr
	if errors.As(err, &answered) || errors.As(err, &auth) || errors.Is(err, piv.ErrNotFound) || b.dev.c.yk == nil {
		return false
	}
	_, perr := b.dev.c.yk.Serial()
	return perr != nil
}
