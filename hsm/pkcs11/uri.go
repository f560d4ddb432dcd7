package pkcs11

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/keyrite/keyrite/hsm"
)

// tokenSelector is what a URI says about the token.
type tokenSelector struct {
	label, serial string
	slot          uint
	hasSlot       bool
}

// keySelector is what a URI says about the key.
type keySelector struct {
	label string
	id    []byte
}

type selector struct {
	tok tokenSelector
	key keySelector
}

// parseURI validates a pkcs11: URI and extracts its selectors.
func parseURI(u *hsm.URI) (selector, error) {
	var s selector
	if u.Scheme != Scheme {
		return s, fmt.Errorf("invalid key URI %q: scheme %q is not %s", u.String(), u.Scheme, Scheme)
	}
	if err := u.Allow(uriAttrs...); err != nil {
		return s, err
	}
	for _, a := range u.Query {
		if a.Name != "module-path" {
			return s, fmt.Errorf("invalid key URI %q: %q belongs in the path, before any '?'", u.String(), a.Name)
		}
	}
	for _, a := range u.Path {
		if a.Name == "module-path" {
			return s, fmt.Errorf("invalid key URI %q: module-path is a query attribute (write ?module-path=...)", u.String())
		}
	}
	s.tok.label = u.Get("token")
	s.tok.serial = u.Get("serial")
	if u.Has("slot-id") {
		n, err := strconv.ParseUint(u.Get("slot-id"), 10, 64)
		if err != nil {
			return s, fmt.Errorf("invalid key URI %q: slot-id must be a decimal number", u.String())
		}
		s.tok.slot, s.tok.hasSlot = uint(n), true
	}
	for _, name := range []string{"token", "serial", "object", "id", "module-path"} {
		if u.Has(name) && u.Get(name) == "" {
			return s, fmt.Errorf("invalid key URI %q: %s is empty", u.String(), name)
		}
	}
	s.key.label = u.Get("object")
	if u.Has("id") {
		s.key.id = []byte(u.Get("id"))
	}
	return s, nil
}

func (s tokenSelector) match(t token) bool {
	return (s.label == "" || s.label == t.info.Label) &&
		(s.serial == "" || s.serial == t.info.SerialNumber) &&
		(!s.hasSlot || s.slot == t.slot)
}

func (s tokenSelector) empty() bool { return s.label == "" && s.serial == "" && !s.hasSlot }

// String names what was asked for, for DeviceAbsentError.
func (s tokenSelector) String() string {
	var parts []string
	if s.label != "" {
		parts = append(parts, strconv.Quote(s.label))
	}
	if s.serial != "" {
		parts = append(parts, "serial "+s.serial)
	}
	if s.hasSlot {
		parts = append(parts, "slot "+strconv.FormatUint(uint64(s.slot), 10))
	}
	if len(parts) == 0 {
		return "pkcs11 token"
	}
	return "pkcs11 token " + strings.Join(parts, " ")
}

func (k keySelector) empty() bool { return k.label == "" && len(k.id) == 0 }

func (k keySelector) String() string {
	var parts []string
	if k.label != "" {
		parts = append(parts, "object="+k.label)
	}
	if len(k.id) > 0 {
		parts = append(parts, "id="+hex.EncodeToString(k.id))
	}
	return strings.Join(parts, ";")
}

// tokenURI formats pkcs11:token=LABEL;serial=S, plus module-path when one
// must be carried for the URI to work again.
func tokenURI(info tokenInfo, modulePath string) string {
	return keyURI(info, "", nil, modulePath)
}

// tokenInfo is the part of p11.TokenInfo a URI needs.
type tokenInfo struct{ label, serial string }

// keyURI formats a key URI. The id is percent-encoded byte by byte as
// RFC 7512 does, since it is binary and rarely printable.
func keyURI(info tokenInfo, object string, id []byte, modulePath string) string {
	u := &hsm.URI{Scheme: Scheme, Path: []hsm.Attr{{Name: "token", Value: info.label}, {Name: "serial", Value: info.serial}}}
	if object != "" {
		u.Path = append(u.Path, hsm.Attr{Name: "object", Value: object})
	}
	s := u.String()
	if len(id) > 0 {
		var b strings.Builder
		for _, c := range id {
			fmt.Fprintf(&b, "%%%02X", c)
		}
		s += ";id=" + b.String()
	}
	if modulePath != "" {
		// hsm.URI escapes the value; borrow it rather than copy its rules.
		q := &hsm.URI{Scheme: Scheme, Query: []hsm.Attr{{Name: "module-path", Value: modulePath}}}
		s += strings.TrimPrefix(q.String(), Scheme+":")
	}
	return s
}
