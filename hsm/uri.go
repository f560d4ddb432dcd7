package hsm

import (
	"fmt"
	"net/url"
	"strings"
)

// URI is a key or device URI in the style of RFC 7512:
// scheme:attr=value;attr=value?qattr=value&qattr=value, values
// percent-encoded. keyrite uses it for all backends (pkcs11:, yubikey:,
// softkey:).
type URI struct {
	Scheme string
	Path   []Attr // ordered as written
	Query  []Attr
}

// Attr is one attribute of a URI.
type Attr struct{ Name, Value string }

// secretAttrs may never appear in a URI: URIs end up in shell history,
// transcripts and logs.
var secretAttrs = map[string]bool{"pin-value": true, "pin": true, "passphrase": true, "password": true}

// ParseURI parses a key or device URI.
func ParseURI(s string) (*URI, error) {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("invalid key URI %q: missing scheme (expected pkcs11:, yubikey: or softkey:)", redact(s))
	}
	u := &URI{Scheme: strings.ToLower(scheme)}
	path, query, _ := strings.Cut(rest, "?")
	var err error
	if u.Path, err = parseAttrs(s, path, ";"); err != nil {
		return nil, err
	}
	if u.Query, err = parseAttrs(s, query, "&"); err != nil {
		return nil, err
	}
	for _, a := range append(append([]Attr{}, u.Path...), u.Query...) {
		if secretAttrs[a.Name] {
			return nil, &HintError{Err: fmt.Errorf("invalid key URI: %q must not carry a secret (%s)", redact(s), a.Name),
				Hint: "use --pin-file or the prompt"}
		}
	}
	return u, nil
}

func parseAttrs(whole, s, sep string) ([]Attr, error) {
	if s == "" {
		return nil, nil
	}
	var out []Attr
	seen := map[string]bool{}
	for _, part := range strings.Split(s, sep) {
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("invalid key URI %q: attribute %q is not name=value", redact(whole), part)
		}
		name = strings.ToLower(name)
		if seen[name] {
			return nil, fmt.Errorf("invalid key URI %q: attribute %q given twice", redact(whole), name)
		}
		seen[name] = true
		dec, err := url.PathUnescape(val)
		if err != nil {
			return nil, fmt.Errorf("invalid key URI %q: attribute %q: bad percent-encoding", redact(whole), name)
		}
		out = append(out, Attr{Name: name, Value: dec})
	}
	return out, nil
}

// Redact hides the value of any secret attribute before a URI is echoed in
// an error message.
func Redact(s string) string { return redact(s) }

func redact(s string) string {
	low := strings.ToLower(s)
	var b strings.Builder
	// Every attribute that starts the text or follows a separator, as
	// often as it is given: a secret given twice is refused as such, and
	// text without a scheme is refused with itself in the message.
	for i := 0; i < len(s); {
		if i == 0 || strings.IndexByte(";?&:", s[i-1]) >= 0 {
			if name := secretAt(low[i:]); name != "" {
				j := i + len(name) + 1
				end := strings.IndexAny(s[j:], ";&?")
				if end < 0 {
					end = len(s) - j
				}
				b.WriteString(s[i:j] + "REDACTED")
				i = j + end
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// secretAt returns the secret attribute whose "name=" starts s, if any.
func secretAt(s string) string {
	for name := range secretAttrs {
		if strings.HasPrefix(s, name+"=") {
			return name
		}
	}
	return ""
}

// Get returns the value of a path or query attribute, "" when absent.
func (u *URI) Get(name string) string {
	for _, a := range u.Path {
		if a.Name == name {
			return a.Value
		}
	}
	for _, a := range u.Query {
		if a.Name == name {
			return a.Value
		}
	}
	return ""
}

// Has reports whether the attribute is present.
func (u *URI) Has(name string) bool {
	for _, a := range append(append([]Attr{}, u.Path...), u.Query...) {
		if a.Name == name {
			return true
		}
	}
	return false
}

// With returns a copy with a path attribute set (replaced or appended).
func (u *URI) With(name, value string) *URI {
	c := &URI{Scheme: u.Scheme, Path: append([]Attr{}, u.Path...), Query: append([]Attr{}, u.Query...)}
	for i, a := range c.Path {
		if a.Name == name {
			c.Path[i].Value = value
			return c
		}
	}
	c.Path = append(c.Path, Attr{name, value})
	return c
}

// Without returns a copy without the named path attributes.
func (u *URI) Without(names ...string) *URI {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	c := &URI{Scheme: u.Scheme, Query: append([]Attr{}, u.Query...)}
	for _, a := range u.Path {
		if !drop[a.Name] {
			c.Path = append(c.Path, a)
		}
	}
	return c
}

// Allow returns an error naming the first attribute not in the list, so a
// typo like "objet=root" is an error and not silently ignored.
func (u *URI) Allow(names ...string) error {
	ok := map[string]bool{}
	for _, n := range names {
		ok[n] = true
	}
	for _, a := range append(append([]Attr{}, u.Path...), u.Query...) {
		if !ok[a.Name] {
			return fmt.Errorf("invalid key URI %q: unknown attribute %q for %s (known: %s)", u.String(), a.Name, u.Scheme, strings.Join(names, ", "))
		}
	}
	return nil
}

// String formats the URI, percent-encoding values.
func (u *URI) String() string {
	var b strings.Builder
	b.WriteString(u.Scheme)
	b.WriteString(":")
	for i, a := range u.Path {
		if i > 0 {
			b.WriteString(";")
		}
		b.WriteString(a.Name + "=" + escape(a.Value))
	}
	for i, a := range u.Query {
		if i == 0 {
			b.WriteString("?")
		} else {
			b.WriteString("&")
		}
		b.WriteString(a.Name + "=" + escape(a.Value))
	}
	return b.String()
}

// escape percent-encodes what would break the URI syntax, leaving paths and
// labels readable.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			strings.IndexByte("-._~/:@!$'()*+,", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
