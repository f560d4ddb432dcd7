package canonjson_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/docker/go/canonical/json"
	"github.com/keyrite/keyrite/internal/canonjson"
)

// edgeCases are hand-written inputs with the answer the reference gives
// (checked below, so a wrong expectation here fails too). Each names the
// encoder or decoder rule it probes.
var edgeCases = []struct {
	in   string
	want bool
}{
	// literals, containers
	{`null`, true}, {`true`, true}, {`false`, true}, {`{}`, true}, {`[]`, true},
	{`{"a":1,"b":[true,false,null,{"c":"d"}],"e":{}}`, true}, {`[[],[[]],{}]`, true},
	{`tru`, false}, {`nul`, false}, {`truex`, false}, {`True`, false}, {`nan`, false},
	{``, false}, {`{`, false}, {`[`, false}, {`}`, false}, {`[1,]`, false}, {`{"a":1,}`, false},
	{`[1]]`, false}, {`{"a":1}}`, false}, {`[1}`, false}, {`{"a":1]`, false}, {`{"a"}`, false},
	{`{"a":}`, false}, {`{1:2}`, false}, {`[,1]`, false}, {`'a'`, false}, {`[1]x`, false},
	// whitespace anywhere
	{` {}`, false}, {`{} `, false}, {`{ }`, false}, {`{"a": 1}`, false}, {`{"a" :1}`, false},
	{`[1, 2]`, false}, {"[1,\n2]", false}, {"\t1", false}, {"1\r", false},
	// keys: strictly increasing by the decoded bytes
	{`{"a":1,"b":2}`, true}, {`{"b":1,"a":2}`, false}, {`{"a":1,"a":2}`, false},
	{`{"a":1,"a":1}`, false}, {`{"":1,"a":2}`, true}, {`{"a":1,"":2}`, false},
	{`{"a":1,"ab":2}`, true}, {`{"ab":1,"a":2}`, false}, {`{"Z":1,"a":2}`, true},
	{`{"a\"":1,"a#":2}`, true}, {`{"a#":1,"a\"":2}`, false}, // " (0x22) sorts before # though \ does not
	{`{"a\\":1,"a]":2}`, true}, {`{"a]":1,"a\\":2}`, false}, {`{"a\\":1,"a\\":2}`, false},
	{`{"a\\":1,"a\\\\":2}`, true}, {`{"a\"":1,"a\\":2}`, true}, {`{"a\\":1,"a\"":2}`, false},
	{"{\"\uFB00\":1,\"\U0001F600\":2}", true}, // UTF-8 byte order, not UTF-16's
	{"{\"\U0001F600\":1,\"\uFB00\":2}", false},
	{`{"b":{"z":1,"a":2}}`, false}, {`[{"b":1},{"a":1}]`, true},
	// strings: only \" and \\ escaped, all else raw and valid UTF-8
	{`""`, true}, {`"a\"b"`, true}, {`"a\\b"`, true}, {`"<>&'/"`, true},
	{"\"\u2028\u2029\"", true}, {"\"é\U0001F600\"", true}, {"\"\x7f\"", true},
	{"\"\xef\xbf\xbd\"", true}, // U+FFFD itself is fine
	{`"\n"`, false}, {`"\t"`, false}, {`"\r"`, false}, {`"\b"`, false}, {`"\f"`, false},
	{`"\/"`, false}, {`"\'"`, false}, {`"\x"`, false}, {`"\u0041"`, false}, {`"\u003c"`, false},
	{`"\u2028"`, false}, {`"\ud83d\ude00"`, false}, {`"\ud800"`, false}, {`"\u00e9"`, false},
	{"\"\n\"", false}, {"\"\t\"", false}, {"\"\x00\"", false}, {"\"\x1f\"", false},
	{"\"\xff\"", false}, {"\"\xc0\xaf\"", false}, {"\"\xed\xa0\x80\"", false}, {"\"\xe2\x80\"", false},
	{"\"\xf4\x90\x80\x80\"", false}, {`"abc`, false}, {`"abc\"`, false}, {`"\`, false},
	{"{\"\xff\":1}", false}, {`{"\n":1}`, false},
	// numbers: float64, printed as int64 digits
	{`0`, true}, {`-1`, true}, {`7`, true}, {`123456789012345`, true}, {`-999999999999999`, true},
	{`9007199254740992`, true}, {`9007199254740993`, false}, {`9007199254740994`, true},
	{`1234567890123456789`, false}, {`-9223372036854775808`, true}, {`1000000000000000000000`, false},
	{`-0`, false}, {`-00`, false}, {`01`, false}, {`00`, false}, {`1.0`, false}, {`1.5`, false},
	{`1e2`, false}, {`1E2`, false}, {`1e+2`, false}, {`0e0`, false}, {`1e400`, false}, {`-`, false},
	{`+1`, false}, {`.5`, false}, {`1.`, false}, {`[-0]`, false}, {`{"a":1.0}`, false}, {`[1,-2,3]`, true},
	{"1" + strings.Repeat("0", 400), false}, // beyond float64: the decoder refuses it
}

func TestEdgeCases(t *testing.T) {
	for _, c := range edgeCases {
		if got := reference([]byte(c.in)); got != c.want {
			t.Errorf("reference(%q) = %v, the table says %v", c.in, got, c.want)
		}
		if got := canonjson.Canonical([]byte(c.in)); got != c.want {
			t.Errorf("Canonical(%q) = %v, want %v (%v)", c.in, got, c.want, canonjson.Check([]byte(c.in)))
		}
	}
}

// Numbers beyond int64 depend on how the platform converts an
// out-of-range float64 to int64 (amd64 gives MinInt64, arm64 saturates):
// Canonical follows the encoder on whatever it runs on.
func TestPlatformNumbersFollowTheEncoder(t *testing.T) {
	for _, in := range []string{`9223372036854775807`, `9223372036854775808`, `-9223372036854775809`,
		`18446744073709551616`, `-9223372036854776833`, `99999999999999999999`} {
		if got, want := canonjson.Canonical([]byte(in)), reference([]byte(in)); got != want {
			t.Errorf("Canonical(%s) = %v, reference %v", in, got, want)
		}
	}
}

// keyrite's and notary's signed parts are canonical (their signatures are
// over these bytes); re-indented or re-spaced, they are not.
func TestMetadata(t *testing.T) {
	for _, m := range metadata(t) {
		want := reference(m.b)
		if got := canonjson.Canonical(m.b); got != want {
			t.Errorf("%s: Canonical = %v, reference %v", m.name, got, want)
		}
		if strings.HasSuffix(m.name, " signed") && !want {
			t.Errorf("%s: a signed part that verifies is not canonical per the reference", m.name)
		}
		var indented bytes.Buffer
		if err := json.Indent(&indented, m.b, "", " "); err != nil {
			t.Fatal(err)
		}
		if canonjson.Canonical(indented.Bytes()) {
			t.Errorf("%s: indented copy accepted", m.name)
		}
	}
}

func TestCheckNamesTheOffset(t *testing.T) {
	for in, at := range map[string]int{`{"a": 1}`: 5, `{"b":1,"a":2}`: 7, `[1,"\n"]`: 4, `[1.0]`: 2, `{}x`: 2} {
		var e *canonjson.NotCanonicalError
		if err := canonjson.Check([]byte(in)); !errors.As(err, &e) || e.Offset != at {
			t.Errorf("Check(%q) = %v, want an error at byte %d", in, err, at)
		}
	}
}

// Deep nesting is an explicit stack, not recursion.
func TestDeepNesting(t *testing.T) {
	const depth = 100000
	b := append(bytes.Repeat([]byte(`[{"a":`), depth), '1')
	b = append(b, bytes.Repeat([]byte(`}]`), depth)...)
	if !canonjson.Canonical(b) {
		t.Errorf("deeply nested canonical JSON refused: %v", canonjson.Check(b))
	}
	if canonjson.Canonical(b[:len(b)-1]) {
		t.Error("deeply nested JSON missing its last ] accepted")
	}
}
