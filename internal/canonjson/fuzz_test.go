package canonjson_test

import (
	"testing"

	"github.com/docker/go/canonical/json"
	"github.com/keyrite/keyrite/internal/canonjson"
)

// FuzzCanonical compares Canonical with the decode and re-encode it
// replaces, on any input and on the reference's own canonical encoding of
// it (so that the fuzzer's mostly broken inputs also yield canonical
// ones, and both answers are exercised). Plain `go test` runs the seeds:
// the edge cases, notary's and keyrite's metadata and their signed parts,
// and testdata/fuzz/FuzzCanonical.
func FuzzCanonical(f *testing.F) {
	for _, c := range edgeCases {
		f.Add([]byte(c.in))
	}
	for _, m := range metadata(f) {
		f.Add(m.b)
	}
	for _, n := range notaryFiles(f) {
		f.Add(n.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		agree(t, b)
		var v any
		if json.Unmarshal(b, &v) != nil {
			return
		}
		if again, err := json.MarshalCanonical(v); err == nil {
			agree(t, again)
		}
	})
}

func agree(t *testing.T, b []byte) {
	t.Helper()
	err := canonjson.Check(b)
	if got, want := err == nil, reference(b); got != want {
		t.Fatalf("Canonical(%q) = %v (%v), reference %v", b, got, err, want)
	}
	if e, ok := err.(*canonjson.NotCanonicalError); err != nil && (!ok || e.Offset < 0 || e.Offset > len(b)) {
		t.Fatalf("Check(%q) = %v: offset outside the input", b, err)
	}
}
