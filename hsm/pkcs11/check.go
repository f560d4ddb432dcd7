package pkcs11

import "github.com/keyrite/keyrite/hsm"

// CheckURI implements hsm.URIChecker.
func (d *Driver) CheckURI(u *hsm.URI) error {
	_, err := parseURI(u)
	return err
}
