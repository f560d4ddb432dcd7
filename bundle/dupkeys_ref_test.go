package bundle

import (
	"bytes"
	"encoding/json"
	"testing"
)

// checkNoDuplicateKeysByTokens is the reference checkNoDuplicateKeys is
// tested against: it walks a JSON text's tokens with encoding/json and refuses an object
// that holds a key twice. Invalid JSON is left to the decoder that follows
// to report.
func checkNoDuplicateKeysByTokens(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	// One set of keys per open object; nil for an open array.
	var stack []map[string]bool
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, map[string]bool{})
				expectKey = true
				continue
			case '[':
				stack = append(stack, nil)
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
		case string:
			if expectKey {
				keys := stack[len(stack)-1]
				if keys[t] {
					return &DuplicateKeyError{Key: t}
				}
				keys[t] = true
				expectKey = false
				continue
			}
		}
		// After a value: inside an object the next token is a key.
		expectKey = len(stack) > 0 && stack[len(stack)-1] != nil
	}
}

// FuzzDuplicateKeys: the one-pass checker and encoding/json's tokens agree
// on every valid JSON text.
func FuzzDuplicateKeys(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":2}`, `{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `[{"a":["a","a",{"x":1,"x":1}]}]`,
		`{"a\u0062":1,"ab":2}`, `{"\"":1,"\\"":2}`, `{"a\\":1,"a\\":2}`, "{\"\xff\":1,\"\xfe\":2}", `{"é":1,"\u00e9":2}`,
		`{ "a" : [ {"a":1} , {"a":2} ] , "b" : "a" , "a" : null }`, `{"a":"}","a":"{"}`, `{"k":[],"k2":{},"k":{}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		got, want := checkNoDuplicateKeys(b), checkNoDuplicateKeysByTokens(b)
		if (got == nil) != (want == nil) || (got != nil && got.Error() != want.Error()) {
			t.Fatalf("%q: one pass says %v, tokens say %v", b, got, want)
		}
	})
}

// TestEncodeGUNFastPath: GUNs that need no escape come back as they are,
// and every byte that needs one is still escaped (a trailing dot or space
// only at the end of a component).
func TestEncodeGUNFastPath(t *testing.T) {
	for gun, want := range map[string]string{
		"registry.example.com/org/app": "registry.example.com/org/app",
		"localhost:5000/team/api":      "localhost%3A5000/team/api",
		"example.com/a./b":             "example.com/a%2E/b",
		"example.com/a/b.":             "example.com/a/b%2E",
		"example.com/a b /c":           "example.com/a b%20/c",
		"example.com/100%/c":           "example.com/100%25/c",
		"example.com/a\x01/c":          "example.com/a%01/c",
		"example.com/a.b/c.d":          "example.com/a.b/c.d",
	} {
		if got := EncodeGUN(gun); got != want {
			t.Errorf("EncodeGUN(%q) = %q, want %q", gun, got, want)
		}
	}
}
