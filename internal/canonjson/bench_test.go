package canonjson_test

import (
	"testing"

	"github.com/keyrite/keyrite/internal/canonjson"
)

// The signed parts verify checks for every repository: keyrite's root.json
// (two root keys with their certificates, four roles) and targets.json,
// and notary 0.3's targets.json, which lists targets and delegations.
func benchInputs(b *testing.B) []sample {
	root, targets := keyriteRepo(b)
	in := []sample{{"keyrite-root", signedPart(b, root)}, {"keyrite-targets", signedPart(b, targets)}}
	for _, n := range notaryFiles(b) {
		if n.name == "fixtures/compatibility/notary0.3/tuf/docker.com/notary0.3/tst/metadata/targets.json" {
			in = append(in, sample{"notary-targets", signedPart(b, n.b)})
		}
	}
	if len(in) != 3 {
		b.Fatal("notary 0.3's targets.json not found")
	}
	return in
}

func BenchmarkCanonical(b *testing.B) {
	for _, in := range benchInputs(b) {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.b)))
			b.ReportAllocs()
			for b.Loop() {
				if !canonjson.Canonical(in.b) {
					b.Fatal("not canonical")
				}
			}
		})
	}
}

func BenchmarkReference(b *testing.B) {
	for _, in := range benchInputs(b) {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.b)))
			b.ReportAllocs()
			for b.Loop() {
				if !reference(in.b) {
					b.Fatal("not canonical")
				}
			}
		})
	}
}
