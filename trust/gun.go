// Package trust builds and verifies Notary (TUF) metadata with notary's own
// tuf packages, signing through hsm keys. It never touches the network.
package trust

import (
	"fmt"
	"regexp"
	"strings"
)

// Docker reference grammar (distribution/reference): an optional registry
// host with port, then lowercase path components. notary itself accepts
// more, but docker clients cannot address anything else.
var (
	hostComponent = regexp.MustCompile(`^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$`)
	pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`)
)

// ValidateGUN checks that a GUN is a repository name docker and notary can
// both use.
func ValidateGUN(gun string) error {
	if gun == "" {
		return fmt.Errorf("empty GUN")
	}
	if len(gun) > 255 {
		return fmt.Errorf("invalid GUN %q: longer than 255 characters", gun)
	}
	parts := strings.Split(gun, "/")
	for i, p := range parts {
		ok := pathComponent.MatchString(p)
		if i == 0 && len(parts) > 1 {
			ok = hostComponent.MatchString(p)
		}
		if !ok {
			return fmt.Errorf("invalid GUN %q: component %q is not a valid repository name part (lowercase letters, digits and separators . _ -; a registry host may come first)", gun, p)
		}
	}
	return nil
}
