package softkey

import (
	"fmt"

	"github.com/keyrite/keyrite/hsm"
)

// CheckURI implements hsm.URIChecker.
func (d *Driver) CheckURI(u *hsm.URI) error {
	if err := u.Allow("file", "object"); err != nil {
		return err
	}
	if u.Get("file") == "" {
		return fmt.Errorf("invalid key URI %q: softkey needs file=PATH", u.String())
	}
	return nil
}
