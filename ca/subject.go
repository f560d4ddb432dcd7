package ca

import (
	"crypto/x509/pkix"
	"fmt"
	"strings"
)

// SubjectError is a distinguished name keyrite cannot use.
type SubjectError struct {
	Subject string
	Reason  string
}

func (e *SubjectError) Error() string {
	return fmt.Sprintf("subject %q: %s (write it as CN=Example Signing Root,O=Example,ST=WA,C=US)", e.Subject, e.Reason)
}

// ParseSubject reads a distinguished name written as RFC 4514 attributes
// ("CN=Example Signing Root,O=Example,C=US"; a comma inside a value is
// escaped as \,). It accepts CN, O, OU, L, ST (or S) and C, each at most
// once and single-valued, as Notation's trusted identities need: a name
// Notation could not match is refused here, not at verification time.
func ParseSubject(s string) (pkix.Name, error) {
	bad := func(format string, a ...any) (pkix.Name, error) {
		return pkix.Name{}, &SubjectError{Subject: s, Reason: fmt.Sprintf(format, a...)}
	}
	var n pkix.Name
	seen := map[string]bool{}
	for _, part := range splitUnescaped(s, ',') {
		typ, val, ok := strings.Cut(part, "=")
		typ = strings.ToUpper(strings.TrimSpace(typ))
		val = unescape(strings.TrimSpace(val))
		if !ok || val == "" {
			return bad("%q is not TYPE=value", part)
		}
		if len(splitUnescaped(part, '+')) > 1 {
			return bad("multi-valued attributes (+) are not supported by Notation")
		}
		if typ == "S" {
			typ = "ST"
		}
		if seen[typ] {
			return bad("%s is given twice", typ)
		}
		seen[typ] = true
		switch typ {
		case "CN":
			n.CommonName = val
		case "O":
			n.Organization = []string{val}
		case "OU":
			n.OrganizationalUnit = []string{val}
		case "L":
			n.Locality = []string{val}
		case "ST":
			n.Province = []string{val}
		case "C":
			if len(val) != 2 {
				return bad("C is a two-letter country code, not %q", val)
			}
			n.Country = []string{strings.ToUpper(val)}
		default:
			return bad("attribute %s is not supported (use CN, O, OU, L, ST, C)", typ)
		}
	}
	if n.CommonName == "" {
		return bad("a CN is required")
	}
	return n, nil
}

// splitUnescaped splits s at sep where it is not escaped by a backslash.
func splitUnescaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unescape removes the backslashes of escaped characters.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
