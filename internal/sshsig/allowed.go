package sshsig

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// AllowedSigner is one line of an allowed signers file (ssh-keygen(1),
// ALLOWED SIGNERS): principals, options, and a key.
type AllowedSigner struct {
	Line        int
	Principals  []string // patterns, as ssh-keygen matches them (*, ?, !negation)
	Key         ssh.PublicKey
	Namespaces  []string // patterns; empty: any
	ValidAfter  time.Time
	ValidBefore time.Time
}

// AllowedSigners is an allowed signers file.
type AllowedSigners []AllowedSigner

// MaxAllowedSigners bounds what ParseAllowedSigners reads.
const MaxAllowedSigners = 1 << 20

// ParseAllowedSigners reads an allowed signers file:
//
//	principals [options] keytype base64-key [comment]
//
// with options cert-authority (refused: keyrite checks plain keys only),
// namespaces="...", valid-after="..." and valid-before="..." (YYYYMMDD or
// YYYYMMDDHHMM[SS], with Z for UTC, else local time). Empty lines and lines
// starting with # are ignored. An unreadable line is an error naming it.
func ParseAllowedSigners(b []byte) (AllowedSigners, error) {
	if len(b) > MaxAllowedSigners {
		return nil, fmt.Errorf("allowed signers: %d bytes is more than any such file", len(b))
	}
	var out AllowedSigners
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), MaxAllowedSigners)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		a, err := parseAllowedLine(line)
		if err != nil {
			return nil, fmt.Errorf("allowed signers line %d: %v", n, err)
		}
		a.Line = n
		out = append(out, *a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("allowed signers: %v", err)
	}
	return out, nil
}

func parseAllowedLine(line string) (*AllowedSigner, error) {
	var principals, rest string
	if line[0] == '"' {
		end := strings.IndexByte(line[1:], '"')
		if end < 0 {
			return nil, fmt.Errorf("unterminated quoted principals")
		}
		principals, rest = line[1:end+1], line[end+2:]
	} else {
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			return nil, fmt.Errorf("no key after the principals")
		}
		principals, rest = line[:i], line[i:]
	}
	if principals == "" {
		return nil, fmt.Errorf("no principals")
	}
	key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(rest)))
	if err != nil {
		return nil, fmt.Errorf("no readable key: %v", err)
	}
	a := &AllowedSigner{Principals: strings.Split(principals, ","), Key: key}
	for _, o := range options {
		name, value, hasValue := strings.Cut(o, "=")
		value = strings.Trim(value, `"`)
		switch strings.ToLower(name) {
		case "cert-authority":
			return nil, fmt.Errorf("cert-authority: keyrite checks plain keys, not SSH certificates")
		case "namespaces":
			if !hasValue {
				return nil, fmt.Errorf("namespaces without a value")
			}
			a.Namespaces = strings.Split(value, ",")
		case "valid-after", "valid-before":
			t, err := parseSSHTime(value)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", name, err)
			}
			if strings.ToLower(name) == "valid-after" {
				a.ValidAfter = t
			} else {
				a.ValidBefore = t
			}
		default:
			return nil, fmt.Errorf("unknown option %q", name)
		}
	}
	return a, nil
}

// parseSSHTime reads YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z].
func parseSSHTime(s string) (time.Time, error) {
	loc := time.Local
	if v, ok := strings.CutSuffix(s, "Z"); ok {
		s, loc = v, time.UTC
	}
	for _, layout := range []string{"20060102", "200601021504", "20060102150405"} {
		if len(s) == len(layout) {
			if t, err := time.ParseInLocation(layout, s, loc); err == nil {
				return t, nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("%q is not YYYYMMDD[HHMM[SS]][Z]", s)
}

// Check says whether the file allows key to sign as principal in
// namespace at now, as ssh-keygen -Y verify -I principal does. The error
// says why not.
func (a AllowedSigners) Check(principal string, key ssh.PublicKey, namespace string, now time.Time) error {
	named := false
	for _, s := range a {
		if matchList(principal, s.Principals) != 1 {
			continue
		}
		named = true
		if !bytes.Equal(s.Key.Marshal(), key.Marshal()) {
			continue
		}
		switch {
		case len(s.Namespaces) > 0 && matchList(namespace, s.Namespaces) != 1:
			return fmt.Errorf("allowed signers line %d does not allow %s's key %s for namespace %s", s.Line, principal, ssh.FingerprintSHA256(key), namespace)
		case !s.ValidAfter.IsZero() && now.Before(s.ValidAfter):
			return fmt.Errorf("allowed signers line %d: %s's key %s is valid only after %s", s.Line, principal, ssh.FingerprintSHA256(key), s.ValidAfter.Format(time.RFC3339))
		case !s.ValidBefore.IsZero() && !now.Before(s.ValidBefore):
			return fmt.Errorf("allowed signers line %d: %s's key %s was valid only before %s", s.Line, principal, ssh.FingerprintSHA256(key), s.ValidBefore.Format(time.RFC3339))
		}
		return nil
	}
	if !named {
		return fmt.Errorf("the allowed signers name no %s", principal)
	}
	return fmt.Errorf("the allowed signers do not list key %s for %s", ssh.FingerprintSHA256(key), principal)
}

// Keys are the keys the file lists for principal, in order.
func (a AllowedSigners) Keys(principal string) []ssh.PublicKey {
	var out []ssh.PublicKey
	for _, s := range a {
		if matchList(principal, s.Principals) == 1 {
			out = append(out, s.Key)
		}
	}
	return out
}

// matchList matches s against a comma-separated pattern list as OpenSSH's
// match_pattern_list does: 1 when a pattern matches and no negated one
// (!pattern) does, -1 when a negated one does, 0 otherwise.
func matchList(s string, patterns []string) int {
	got := 0
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		neg := strings.HasPrefix(p, "!")
		if neg {
			p = p[1:]
		}
		if match(s, p) {
			if neg {
				return -1
			}
			got = 1
		}
	}
	return got
}

// match is OpenSSH's match_pattern: * any run, ? any one character.
func match(s, p string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if match(s[i:], p) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			s, p = s[1:], p[1:]
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
			s, p = s[1:], p[1:]
		}
	}
	return s == ""
}
