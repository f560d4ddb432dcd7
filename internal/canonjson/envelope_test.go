package canonjson_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/docker/go/canonical/json"
	"github.com/keyrite/keyrite/internal/canonjson"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// slowParseSigned is what trust's parseSigned established before
// ParseSigned: the file decodes, its signed part is canonical (by the
// reference), and the envelope encodes back to the same bytes.
func slowParseSigned(b []byte) (*data.Signed, bool) {
	var s data.Signed
	if json.Unmarshal(b, &s) != nil || s.Signed == nil || !reference(*s.Signed) {
		return nil, false
	}
	again, err := trust.Marshal(&s)
	return &s, err == nil && bytes.Equal(again, b)
}

// covered says whether ParseSigned promises to take b's fast path, given
// the slow path's reading of it (see ParseSigned's doc).
func covered(s *data.Signed) bool {
	plain := func(v string) bool {
		return !strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r > 0x7e || strings.ContainsRune(`"\<>&`, r) })
	}
	for _, sig := range s.Signatures {
		if !plain(sig.KeyID) || !plain(string(sig.Method)) {
			return false
		}
	}
	raw := string(*s.Signed)
	return strings.HasPrefix(raw, "{") && !strings.ContainsAny(raw, "<>&\u2028\u2029")
}

// agreeSigned fails when ParseSigned takes the fast path where the slow
// path refuses or reads something else, or leaves a covered file to the
// slow path.
func agreeSigned(t *testing.T, b []byte) {
	t.Helper()
	fast, ok := canonjson.ParseSigned(b)
	slow, slowOK := slowParseSigned(b)
	switch {
	case ok && !slowOK:
		t.Fatalf("ParseSigned took %q, which the slow path refuses", b)
	case ok && !reflect.DeepEqual(fast, slow):
		t.Fatalf("ParseSigned(%q) = %+v, the slow path reads %+v", b, fast, slow)
	case !ok && slowOK && covered(slow):
		t.Fatalf("ParseSigned left %q to the slow path", b)
	}
}

// edgeEnvelopes are envelopes around a canonical signed part, each
// probing one rule of the template.
var edgeEnvelopes = []string{
	`{"signed":{},"signatures":[]}`,
	`{"signed":{},"signatures":null}`,
	`{"signed":{"a":1},"signatures":[{"keyid":"k","method":"ecdsa","sig":"AAAA"}]}`,
	`{"signed":{"a":1},"signatures":[{"keyid":"k","method":"ecdsa","sig":"AAAA"},{"keyid":"j","method":"rsapss","sig":""}]}`,
	`{"signed":{"a":1},"signatures":[{"keyid":"k","method":"ecdsa","sig":null}]}`,
	`{"signed":{"a":1},"signatures":[{"keyid":"k","method":"ECDSA","sig":"AAAA"}]}`,    // method lowercased by the decoder
	`{"signed":{"a":1},"signatures":[{"keyid":"k","method":"ecdsa","sig":"AAB="}]}`,    // non-zero padding bits
	`{"signed":{"a":1},"signatures":[{"keyid":"k","method":"ecdsa","sig":"AA"}]}`,      // unpadded
	`{"signed":{"a":1},"signatures":[{"keyid":"k","method":"ecdsa","sig":"AA\nAA"}]}`,  // raw newline
	`{"signed":{"a":1},"signatures":[{"keyid":"k","method":"ecdsa","sig":"AA\\nAA"}]}`, // escaped newline
	`{"signed":{"a":1},"signatures":[{"keyid":"k<","method":"ecdsa","sig":"AAAA"}]}`,   // encoder escapes <
	`{"signed":{"a":1},"signatures":[{"keyid":"k\u003c","method":"ecdsa","sig":"AAAA"}]}`,
	`{"signed":{"a":1},"signatures":[{"keyid":"k\\u003c","method":"ecdsa","sig":"AAAA"}]}`,
	`{"signed":{"a":1},"signatures":[{"keyid":"é","method":"ecdsa","sig":"AAAA"}]}`,
	`{"signed":{"a":1},"signatures":[{"method":"ecdsa","keyid":"k","sig":"AAAA"}]}`,       // field order
	`{"signed":{"a":1},"signatures":[{"keyid":"k","method":"ecdsa","sig":"AAAA","x":1}]}`, // unknown field
	`{"signed":{"a":1},"signatures":[{"keyid":"k","method":"ecdsa","sig":"AAAA"},]}`,
	`{"signed":{"a":1},"signatures":[{"keyid":"k","method":"ecdsa","sig":"AAAA"}]} `,
	`{"signed":{"a":"<"},"signatures":[]}`,
	`{"signed":{"a":"\u003c"},"signatures":[]}`,
	"{\"signed\":{\"a\":\"\u2028\"},\"signatures\":[]}",
	`{"signed":{"b":1,"a":2},"signatures":[]}`,
	`{"signed":{"a":1.0},"signatures":[]}`,
	`{"signed":[],"signatures":[]}`,
	`{"signed":null,"signatures":[]}`,
	`{"signed":"x","signatures":[]}`,
	`{"signatures":[],"signed":{}}`,
	`{"signed":{}}`,
	`{"signed":{},"signatures":[],"signed":{}}`,
	`{"Signed":{},"signatures":[]}`,
	`{"signed": {},"signatures":[]}`,
	`{"signed":{},"signatures":[]`,
	`{"signed":{},"signatures":`,
	`{"signed":`,
}

func TestParseSignedEdgeCases(t *testing.T) {
	fast := 0
	for _, e := range edgeEnvelopes {
		agreeSigned(t, []byte(e))
		if _, ok := canonjson.ParseSigned([]byte(e)); ok {
			fast++
		}
	}
	if fast < 5 || fast > len(edgeEnvelopes)-10 {
		t.Errorf("%d of %d edge cases take the fast path: the table no longer probes both sides", fast, len(edgeEnvelopes))
	}
}

// Every metadata file keyrite and notary wrote takes the fast path.
func TestParseSignedTakesWhatNotaryAndKeyriteWrite(t *testing.T) {
	for _, m := range metadata(t) {
		if strings.HasSuffix(m.name, " signed") {
			continue
		}
		agreeSigned(t, m.b)
		if _, ok := canonjson.ParseSigned(m.b); !ok {
			t.Errorf("%s: slow path only", m.name)
		}
	}
}

// FuzzParseSigned compares ParseSigned with the slow path on any input,
// and on the envelope the slow path's encoder writes for it (its signed
// part made canonical), which is what ParseSigned must take.
func FuzzParseSigned(f *testing.F) {
	for _, e := range edgeEnvelopes {
		f.Add([]byte(e))
	}
	for _, m := range metadata(f) {
		f.Add(m.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		agreeSigned(t, b)
		var s data.Signed
		if json.Unmarshal(b, &s) != nil || s.Signed == nil {
			return
		}
		var inner any
		if json.Unmarshal(*s.Signed, &inner) != nil {
			return
		}
		canon, err := json.MarshalCanonical(inner)
		if err != nil {
			return
		}
		s.Signed = (*json.RawMessage)(&canon)
		if again, err := trust.Marshal(&s); err == nil {
			agreeSigned(t, again)
		}
	})
}
