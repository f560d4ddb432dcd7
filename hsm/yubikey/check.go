package yubikey

import (
	"fmt"

	"github.com/keyrite/keyrite/hsm"
)

// CheckURI implements hsm.URIChecker. A URI without a serial is refused
// naming the serials attached, as Open does: keyrite never picks one.
func (d *Driver) CheckURI(u *hsm.URI) error {
	_, err := parseURI(u)
	if err != nil && u.Scheme == Scheme && !u.Has("serial") {
		if res, serr := scan(0); serr == nil && len(res.cards) > 0 {
			return fmt.Errorf("%w (%s)", err, seenText(res))
		}
	}
	return err
}
