package trust

import (
	"crypto/sha256"
	"sync"

	"github.com/docker/go/canonical/json"
	"github.com/keyrite/keyrite/internal/canonjson"
	"github.com/theupdateframework/notary/tuf/data"
)

// Decoded remembers the decoded forms of the metadata one verification
// reads, by the SHA-256 of their bytes. Every check of a bundle (the
// signatures, the claims, foreign signatures, the seal's signers) reads
// the same root.json, and decoding JSON, not ECDSA, was most of verify's
// time. Keying by content, not by slice, means bytes that changed are
// decoded again. What it returns is shared: callers read it and never
// change it. A nil *Decoded decodes every time.
type Decoded struct {
	mu sync.Mutex
	m  map[[32]byte]*decodedFile
}

// NewDecoded is an empty Decoded for one verification.
func NewDecoded() *Decoded { return &Decoded{m: map[[32]byte]*decodedFile{}} }

// decodedFile is one file's decoded forms, each made once, on first use.
type decodedFile struct {
	signedOnce sync.Once
	signed     *data.Signed
	signedErr  error

	canonOnce sync.Once
	canonErr  error

	rootOnce sync.Once
	root     *data.SignedRoot
	rootErr  error
}

func (d *Decoded) file(b []byte) *decodedFile {
	if d == nil {
		return &decodedFile{}
	}
	k := sha256.Sum256(b)
	d.mu.Lock()
	defer d.mu.Unlock()
	f, ok := d.m[k]
	if !ok {
		f = &decodedFile{}
		d.m[k] = f
	}
	return f
}

// Signed is b decoded as notary decodes metadata, with no check of its
// form.
func (d *Decoded) Signed(b []byte) (*data.Signed, error) {
	return d.file(b).decodeSigned(b)
}

func (f *decodedFile) decodeSigned(b []byte) (*data.Signed, error) {
	f.signedOnce.Do(func() {
		var s data.Signed
		if f.signedErr = json.Unmarshal(b, &s); f.signedErr == nil {
			f.signed = &s
		}
	})
	return f.signed, f.signedErr
}

// Canonical is b decoded, once it is proven in the one serialization
// notary uses (see parseSigned).
func (d *Decoded) Canonical(b []byte) (*data.Signed, error) {
	f := d.file(b)
	f.canonOnce.Do(func() {
		// What notary and keyrite write is read and proven in one pass;
		// the rest takes the full decode and the slow check.
		if s, ok := canonjson.ParseSigned(b); ok {
			f.signedOnce.Do(func() { f.signed = s })
			if f.signed != nil {
				return
			}
		}
		s, err := f.decodeSigned(b)
		if err != nil {
			f.canonErr = errNotJSON(err)
			return
		}
		f.canonErr = checkCanonical(s, b)
	})
	if f.canonErr != nil {
		return nil, f.canonErr
	}
	return f.signed, nil
}

// Root is b decoded as a root: the envelope and its signed part.
func (d *Decoded) Root(b []byte) (*data.Signed, *data.SignedRoot, error) {
	f := d.file(b)
	s, err := f.decodeSigned(b)
	if err != nil {
		return nil, nil, err
	}
	f.rootOnce.Do(func() { f.root, f.rootErr = data.RootFromSigned(s) })
	return s, f.root, f.rootErr
}
