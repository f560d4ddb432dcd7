package bundle

import (
	"encoding/json"
	"unicode/utf8"
)

// checkNoDuplicateKeys refuses a JSON text with an object that holds a key
// twice, comparing keys as a decoder sees them (escapes decoded, invalid
// UTF-8 replaced). Invalid JSON is left to the decoder that follows to
// report. It is one pass over the bytes: a signed bundle's manifest, seal
// and transcript run to megabytes, and encoding/json's token reader was a
// fifth of verify's time on them.
func checkNoDuplicateKeys(b []byte) error {
	// One entry per open object or array; keys is nil for an array.
	type open struct {
		keys map[string]struct{}
	}
	var stack []open
	expectKey := false
	for i := 0; i < len(b); {
		switch c := b[i]; c {
		case '{':
			stack = append(stack, open{keys: map[string]struct{}{}})
			expectKey = true
			i++
		case '[':
			stack = append(stack, open{})
			expectKey = false
			i++
		case '}', ']':
			if len(stack) == 0 {
				return nil // invalid: the decoder reports it
			}
			stack = stack[:len(stack)-1]
			expectKey = false
			i++
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].keys != nil
			i++
		case '"':
			end, plain := stringEnd(b, i)
			if end < 0 {
				return nil
			}
			if expectKey && len(stack) > 0 && stack[len(stack)-1].keys != nil {
				var key string
				if plain {
					key = string(b[i+1 : end])
				} else if json.Unmarshal(b[i:end+1], &key) != nil {
					return nil
				}
				keys := stack[len(stack)-1].keys
				if _, dup := keys[key]; dup {
					return &DuplicateKeyError{Key: key}
				}
				keys[key] = struct{}{}
			}
			expectKey = false
			i = end + 1
		default:
			i++ // whitespace, ':', numbers, literals
		}
	}
	return nil
}

// stringEnd returns the index of the quote closing the JSON string that
// opens at b[start] (-1 if it does not close), and whether its bytes are
// the decoded string already: no escapes and valid UTF-8.
func stringEnd(b []byte, start int) (int, bool) {
	plain := true
	ascii := true
	for j := start + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			if !ascii && plain && !utf8.Valid(b[start+1:j]) {
				plain = false
			}
			return j, plain
		case c == '\\':
			plain = false
			j++
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return -1, false
}
