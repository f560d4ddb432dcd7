package hsm

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParseURI: a URI that parses prints (String) as a URI that parses to
// the same attributes and prints the same again; a URI that carries a
// secret is refused and the secret's value is never in the error.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"pkcs11:token=ceremony;object=root",
		"pkcs11:token=my%20token;serial=1a2b?module-path=/usr/lib/softhsm/libsofthsm2.so",
		"yubikey:serial=12345678;slot=9c",
		"softkey:file=/tmp/rehearsal.softkey;object=root",
		"pkcs11:token=x;pin-value=1234",
		"PKCS11:Token=A;TOKEN=b",
		"pkcs11:?a=1&b=%ZZ",
		"pkcs11:;;a=1;;",
		":a=1",
		"pkcs11:a",
		"pkcs11:a=%3B%3F%26%25",
		// A secret given twice was echoed the second time.
		"pkcs11:a=1;pin=abcdef;pin=ghijkl",
		"pkcs11:a=1;pin-value=abcdef;PIN-VALUE=ghijkl",
	} {
		f.Add(s)
	}
	norm := func(u *URI) URI {
		c := *u
		if len(c.Path) == 0 {
			c.Path = nil
		}
		if len(c.Query) == 0 {
			c.Query = nil
		}
		return c
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			// No error repeats a secret attribute's value, wherever it
			// is in the URI and however often.
			all, values := redactAll(s)
			for _, v := range values {
				if len(v) >= 6 && strings.Contains(err.Error(), v) && !strings.Contains(all, v) {
					t.Fatalf("%q: the error repeats the secret %q: %v", s, v, err)
				}
			}
			return
		}
		printed := u.String()
		again, err := ParseURI(printed)
		if err != nil {
			t.Fatalf("%q parses, but its String %q does not: %v", s, printed, err)
		}
		if !reflect.DeepEqual(norm(u), norm(again)) {
			t.Fatalf("%q: parsed %+v, its String %q parses to %+v", s, u, printed, again)
		}
		if again.String() != printed {
			t.Fatalf("%q: String is not stable: %q then %q", s, printed, again.String())
		}
		for _, a := range append(append([]Attr{}, u.Path...), u.Query...) {
			if secretAttrs[a.Name] {
				t.Fatalf("%q: secret attribute %s accepted", s, a.Name)
			}
			if a.Name != strings.ToLower(a.Name) || u.Get(a.Name) == "" && a.Value != "" {
				t.Fatalf("%q: attribute %q not found by Get", s, a.Name)
			}
		}
	})
}

// redactAll replaces every secret attribute's value, and returns them.
func redactAll(s string) (string, []string) {
	var values []string
	low := strings.ToLower(s)
	var b strings.Builder
	for i := 0; i < len(s); {
		matched := false
		if i == 0 || strings.IndexByte(":;?&", s[i-1]) >= 0 {
			for name := range secretAttrs {
				if strings.HasPrefix(low[i:], name+"=") {
					j := i + len(name) + 1
					end := strings.IndexAny(s[j:], ";&?")
					if end < 0 {
						end = len(s) - j
					}
					values = append(values, s[j:j+end])
					b.WriteString(s[i:j] + "REDACTED")
					i = j + end
					matched = true
					break
				}
			}
		}
		if !matched {
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), values
}
