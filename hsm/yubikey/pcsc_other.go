//go:build !linux

package yubikey

import "errors"

// rawPCSC: keyrite's own PC/SC connection is built only for Linux; without
// it provisioning is refused before anything changes and Delete
// overwrites on every firmware.
const rawPCSC = false

func openPCSC(reader string) (rawTransport, error) {
	return nil, errors.New("keyrite's own PC/SC connection (ykman's data objects, key deletion) is only built for Linux")
}
