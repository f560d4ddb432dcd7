package canonjson_test

import (
	"testing"

	"github.com/keyrite/keyrite/internal/canonjson"
)

// benchFiles are the files verify reads for every repository: keyrite's
// root.json (two root keys with their certificates, four roles) and
// targets.json, and notary 0.3's targets.json, which lists targets and
// delegations.
func benchFiles(b *testing.B) []sample {
	root, targets := keyriteRepo(b)
	in := []sample{{"keyrite-root", root}, {"keyrite-targets", targets}}
	for _, n := range notaryFiles(b) {
		if n.name == "fixtures/compatibility/notary0.3/tuf/docker.com/notary0.3/tst/metadata/targets.json" {
			in = append(in, sample{"notary-targets", n.b})
		}
	}
	if len(in) != 3 {
		b.Fatal("notary 0.3's targets.json not found")
	}
	return in
}

// run benchmarks check on each file (its signed part when signedOnly).
func run(b *testing.B, signedOnly bool, check func([]byte) bool) {
	for _, in := range benchFiles(b) {
		if signedOnly {
			in.b = signedPart(b, in.b)
		}
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.b)))
			b.ReportAllocs()
			for b.Loop() {
				if !check(in.b) {
					b.Fatal("refused")
				}
			}
		})
	}
}

// Canonical against the decode and re-encode it replaces, on signed parts.
func BenchmarkCanonical(b *testing.B) { run(b, true, canonjson.Canonical) }
func BenchmarkReference(b *testing.B) { run(b, true, reference) }

// ParseSigned against trust's parseSigned before it (decode the file,
// decode and re-encode its signed part, re-encode the envelope), on files.
func BenchmarkParseSigned(b *testing.B) {
	run(b, false, func(f []byte) bool { _, ok := canonjson.ParseSigned(f); return ok })
}

func BenchmarkParseSignedSlow(b *testing.B) {
	run(b, false, func(f []byte) bool { _, ok := slowParseSigned(f); return ok })
}
