package hsm

import (
	"fmt"
	"strings"
)

// URIChecker is a driver that can check a URI's attributes without
// touching a device: the command line calls it before anything runs, so
// every malformed URI is a usage error, whichever part is wrong.
type URIChecker interface {
	CheckURI(u *URI) error
}

// CheckURI parses a key or device URI and has the driver of its scheme
// check it, without opening anything.
func (r *Registry) CheckURI(uri string) error {
	u, err := ParseURI(uri)
	if err != nil {
		return err
	}
	d, ok := r.drivers[u.Scheme]
	if !ok {
		return fmt.Errorf("unsupported key URI scheme %q (supported: %s)", u.Scheme, strings.Join(r.Schemes(), ", "))
	}
	if c, ok := d.(URIChecker); ok {
		return c.CheckURI(u)
	}
	return nil
}
