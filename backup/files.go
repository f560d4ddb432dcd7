package backup

import (
	"errors"
	"fmt"

	"github.com/keyrite/keyrite/internal/fsutil"
)

// Size limits of the files a custodian brings. A share file is a few
// kilobytes (a post-quantum or plugin recipient's stanza included) and an
// identity file less; the limits leave room for comments and what a QR
// scanner prints around the codes, and refuse anything that could only
// exhaust memory.
const (
	MaxShareFileSize    = 1 << 20
	MaxIdentityFileSize = 64 << 10
	// MaxRecordSize bounds backup.json: a public key and 255 shares'
	// recipients at most.
	MaxRecordSize = 1 << 20
)

// ReadShareFile reads a share file: a regular file (a link to one is
// followed) of at most MaxShareFileSize bytes. Anything else is a
// *ShareError naming it, refused before a byte is read.
func ReadShareFile(path string) ([]byte, error) {
	b, err := fsutil.ReadRegular(path, MaxShareFileSize)
	var (
		nr *fsutil.NotRegularError
		tl *fsutil.TooLargeError
	)
	switch {
	case errors.As(err, &nr):
		return nil, &ShareError{File: path, Reason: fmt.Sprintf("not a share file: %s, not a regular file", nr.Kind())}
	case errors.As(err, &tl):
		return nil, &ShareError{File: path, Reason: fmt.Sprintf("not a share file: %d bytes, more than the %d a share file may hold", tl.Size, tl.Max)}
	}
	return b, err
}

// ReadIdentityFile reads an age identity file (X25519, hybrid, SSH or
// plugin): a regular file of at most MaxIdentityFileSize bytes that only
// its owner may read or write (an *fsutil.PermissionError otherwise, as
// ssh refuses a loose private key).
func ReadIdentityFile(path string) ([]byte, error) {
	return fsutil.ReadPrivate(path, "identity file", MaxIdentityFileSize)
}
