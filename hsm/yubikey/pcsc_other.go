//go:build !linux

package yubikey

import "errors"

func openPCSC(reader string) (rawTransport, error) {
	return nil, errors.New("keyrite's own PC/SC connection (ykman's data objects, key deletion) is only built for Linux")
}
