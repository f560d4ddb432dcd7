package canonjson

import "testing"

func TestUnescapeEnvelope(t *testing.T) {
	for _, c := range []struct {
		in, want string
		found    bool
	}{
		{`{"a":"b"}`, `{"a":"b"}`, false},
		{`{"a\u0026b":"\u003cc\u003e"}`, `{"a&b":"<c>"}`, true},
		{`{"a":"\u2028\u2029"}`, "{\"a\":\"\u2028\u2029\"}", true},
		// An escaped backslash followed by the text u0026 is not an escape.
		{`{"a":"\\u0026"}`, `{"a":"\\u0026"}`, false},
		{`{"a":"\\\u0026"}`, `{"a":"\\&"}`, true},
		// Other escapes, and the encoder's escapes written otherwise, stay.
		{`{"a":"\u003C\u0041\n"}`, `{"a":"\u003C\u0041\n"}`, false},
		// Outside strings nothing is unescaped (not JSON anyway).
		{`{"a":1}\u0026`, `{"a":1}\u0026`, false},
		{`{"a":"\u002`, `{"a":"\u002`, false},
	} {
		got, found := UnescapeEnvelope([]byte(c.in))
		if string(got) != c.want || found != c.found {
			t.Errorf("UnescapeEnvelope(%s) = %s, %v; want %s, %v", c.in, got, found, c.want, c.found)
		}
	}
}
