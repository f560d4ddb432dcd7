// Package canonjson checks, in one pass over the bytes and without
// decoding, that JSON is already in the canonical form notary signs: the
// bytes github.com/docker/go/canonical/json's MarshalCanonical writes for
// the value Unmarshal decodes from them into an `any`.
//
// keyrite's verify used to prove that of every metadata file by decoding
// the file's signed part and encoding it again, which dominated its
// profile. Check gives the same answer for every input (a fuzz test
// compares the two) at a fraction of the cost; ParseSigned (envelope.go)
// does the same for a whole metadata file as notary uploads it.
//
// What MarshalCanonical writes for a decoded `any` (third_party/docker-go,
// encode*.go with canonical set), and so what Check accepts:
//   - no whitespace at all;
//   - objects (map[string]any) with their keys sorted by Go string order
//     of the decoded keys, so strictly increasing: a key given twice
//     decodes to one, which the encoder writes once;
//   - strings with only `\\` and `\"` escaped and every other byte as it
//     is, including U+2028, U+2029, <, > and &. As a consequence the
//     input may hold no other escape (it would decode to a byte written
//     raw), no control character (the decoder refuses it raw, and the
//     encoder would write it raw) and no invalid UTF-8 (the decoder turns
//     it into U+FFFD);
//   - numbers decode to float64 and are written as
//     strconv.AppendInt(int64(f)), after refusing a fractional f: so only
//     plain integers without a leading zero or "-0", whose float64 prints
//     back the same digits;
//   - true, false, null.
package canonjson

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// NotCanonicalError names the first byte at which the input stops being
// the canonical form of the value it holds (or stops being JSON).
type NotCanonicalError struct {
	Offset int
	Reason string
}

func (e *NotCanonicalError) Error() string {
	return fmt.Sprintf("not canonical JSON at byte %d: %s", e.Offset, e.Reason)
}

// Canonical reports whether b is exactly MarshalCanonical of the value
// docker/go's canonical json Unmarshal decodes from b into an `any`
// (false when b does not decode).
func Canonical(b []byte) bool { return Check(b) == nil }

// frame is one open object or array. For an object it remembers the
// previous key (its bytes between the quotes, and whether they hold an
// escape) to insist on strictly increasing keys.
type frame struct {
	object     bool
	keyStart   int
	keyEnd     int
	keyEscaped bool
}

// Check is Canonical with the first offending offset.
func Check(b []byte) error {
	end, err := value(b, 0)
	if err == nil && end != len(b) {
		return fail(end, "bytes after the value")
	}
	return err
}

// value checks the canonical value that starts at i and returns the
// offset after it. It walks the input with an explicit stack rather than
// recursion, so nesting depth costs memory, as it does in the decoder, and
// never the goroutine stack.
func value(b []byte, i int) (int, error) {
	var spare [16]frame
	stack := spare[:0]
values:
	for {
		// A value starts at i.
		if i >= len(b) {
			return 0, fail(i, "unexpected end of input")
		}
		switch c := b[i]; {
		case c == '{':
			if i+1 < len(b) && b[i+1] == '}' {
				i += 2
				break
			}
			stack = append(stack, frame{object: true, keyStart: -1})
			var err error
			if i, err = nextKey(b, i+1, &stack[len(stack)-1]); err != nil {
				return 0, err
			}
			continue values
		case c == '[':
			if i+1 < len(b) && b[i+1] == ']' {
				i += 2
				break
			}
			stack = append(stack, frame{})
			i++
			continue values
		case c == '"':
			end, _, err := checkString(b, i)
			if err != nil {
				return 0, err
			}
			i = end
		case c == '-' || '0' <= c && c <= '9':
			end, err := checkNumber(b, i)
			if err != nil {
				return 0, err
			}
			i = end
		case c == 't':
			if !bytes.HasPrefix(b[i:], []byte("true")) {
				return 0, fail(i, "invalid literal")
			}
			i += 4
		case c == 'f':
			if !bytes.HasPrefix(b[i:], []byte("false")) {
				return 0, fail(i, "invalid literal")
			}
			i += 5
		case c == 'n':
			if !bytes.HasPrefix(b[i:], []byte("null")) {
				return 0, fail(i, "invalid literal")
			}
			i += 4
		default:
			return 0, fail(i, "not the start of a value (whitespace is not canonical)")
		}
		// A value ended at i: a comma, or the close of its container(s).
		for {
			if len(stack) == 0 {
				return i, nil
			}
			if i >= len(b) {
				return 0, fail(i, "unexpected end of input")
			}
			top := &stack[len(stack)-1]
			switch b[i] {
			case ',':
				if top.object {
					var err error
					if i, err = nextKey(b, i+1, top); err != nil {
						return 0, err
					}
				} else {
					i++
				}
				continue values
			case '}':
				if !top.object {
					return 0, fail(i, "} closes an array")
				}
			case ']':
				if top.object {
					return 0, fail(i, "] closes an object")
				}
			default:
				return 0, fail(i, "expected , or the end of the container (whitespace is not canonical)")
			}
			stack = stack[:len(stack)-1]
			i++
		}
	}
}

// nextKey checks the key at i and the colon after it, and that the key
// sorts strictly after the object's previous one; it returns where the
// key's value starts.
func nextKey(b []byte, i int, f *frame) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, fail(i, "expected a key string")
	}
	end, escaped, err := checkString(b, i)
	if err != nil {
		return 0, err
	}
	start, stop := i+1, end-1
	if f.keyStart >= 0 && compareKeys(b[f.keyStart:f.keyEnd], f.keyEscaped, b[start:stop], escaped) >= 0 {
		return 0, fail(i, "key not after the previous key in sort order (or repeated)")
	}
	f.keyStart, f.keyEnd, f.keyEscaped = start, stop, escaped
	if end >= len(b) || b[end] != ':' {
		return 0, fail(end, "expected : after a key")
	}
	return end + 1, nil
}

// checkString checks the string whose opening quote is at i and returns
// the offset after its closing quote, and whether it holds an escape.
func checkString(b []byte, i int) (end int, escaped bool, err error) {
	j := i + 1
	for j < len(b) {
		if plain[b[j]] {
			j++
			continue
		}
		c := b[j]
		switch {
		case c == '"':
			return j + 1, escaped, nil
		case c == '\\':
			// The encoder escapes these two only; any other escape
			// decodes to a byte it writes raw.
			if j+1 >= len(b) || (b[j+1] != '"' && b[j+1] != '\\') {
				return 0, false, fail(j, "escape other than \\\" or \\\\")
			}
			escaped = true
			j += 2
		case c < 0x20:
			return 0, false, fail(j, "control character in a string")
		case c < utf8.RuneSelf:
			j++
		default:
			r, size := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && size == 1 {
				return 0, false, fail(j, "invalid UTF-8 (decodes to U+FFFD)")
			}
			j += size
		}
	}
	return 0, false, fail(j, "unterminated string")
}

// plain are the bytes a string holds as they are, one byte one character:
// printable ASCII other than " and \.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// compareKeys compares two checked key strings by their decoded bytes, as
// the encoder's sort of map keys does: an escape is its second byte.
func compareKeys(a []byte, aEsc bool, b []byte, bEsc bool) int {
	if !aEsc && !bEsc {
		return bytes.Compare(a, b)
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		x, y := a[i], b[j]
		if x == '\\' {
			i++
			x = a[i]
		}
		if y == '\\' {
			j++
			y = b[j]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
		i++
		j++
	}
	switch {
	case i < len(a):
		return 1
	case j < len(b):
		return -1
	}
	return 0
}

// exactDigits is how many decimal digits any integer may have and still
// be a float64 exactly (10^15 < 2^53), so print back as itself.
const exactDigits = 15

// checkNumber checks the number at i and returns the offset after it.
func checkNumber(b []byte, i int) (int, error) {
	start := i
	neg := b[i] == '-'
	if neg {
		i++
	}
	digits := i
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	n := i - digits
	switch {
	case n == 0:
		return 0, fail(i, "number without digits")
	case b[digits] == '0' && n > 1:
		return 0, fail(digits, "leading zero")
	}
	if i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E') {
		return 0, fail(i, "fraction or exponent (the encoder writes integers only)")
	}
	if n <= exactDigits && !(neg && b[digits] == '0') {
		return i, nil
	}
	if !reencodes(b[start:i]) {
		return 0, fail(start, "number does not print back the same (-0, or beyond float64's exact integers)")
	}
	return i, nil
}

// reencodes decodes a number as the decoder does (strconv.ParseFloat) and
// formats it as the canonical float encoder does, for the numbers whose
// answer is not plain: -0 and those of more than exactDigits digits.
func reencodes(num []byte) bool {
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Floor(f) != f {
		return false
	}
	var scratch [24]byte
	return bytes.Equal(strconv.AppendInt(scratch[:0], int64(f), 10), num)
}

func fail(at int, reason string) error {
	return &NotCanonicalError{Offset: at, Reason: reason}
}
