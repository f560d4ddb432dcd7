package trust

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
)

// escapedTargets is targets.json version 2 naming target, signed by the
// targets key as notary's client signs it (over the canonical form) and
// written as it uploads it (Marshal: the envelope escapes <, >, & and
// U+2028, U+2029). sign, when set, replaces the message signed.
func escapedTargets(t *testing.T, ks *KeyService, pub data.PublicKey, target string, sign func(*data.Signed) []byte) []byte {
	t.Helper()
	tg := data.NewTargets()
	tg.Signed.Version = 2
	tg.Signed.Expires = time.Now().Add(time.Hour).UTC()
	tg.Signed.Targets[target] = data.FileMeta{Length: 1, Hashes: data.Hashes{"sha256": bytes.Repeat([]byte{1}, 32)}}
	s, err := tg.ToSigned()
	if err != nil {
		t.Fatal(err)
	}
	if sign == nil {
		if err := signed.Sign(ks, s, []data.PublicKey{pub}, 1, nil); err != nil {
			t.Fatal(err)
		}
	} else {
		key, _, err := ks.GetPrivateKey(pub.ID())
		if err != nil {
			t.Fatal(err)
		}
		sig, err := key.Sign(nil, sign(s), nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Signatures = []data.Signature{{KeyID: pub.ID(), Method: data.ECDSASignature, Signature: sig}}
	}
	b, err := Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A target named with <, >, & or U+2028 is written by notary's envelope
// encoder as \u escapes in the signed part, while its signature is over
// the canonical form: keyrite reads and verifies it as notary's client
// does. And what notary would not have written is refused: a signature
// over the escaped bytes, the characters left raw in the file, and other
// spellings of the escapes.
func TestTargetsWithCharactersTheEnvelopeEscapes(t *testing.T) {
	r, spec := newRepo(t, "registry.example.com/org/app")
	ks := NewKeyService()
	pub, err := ks.Add(spec.TargetsKey, data.CanonicalTargetsRole)
	if err != nil {
		t.Fatal(err)
	}
	verifyTargets := func(b []byte) (*RepoReport, error) {
		return VerifyRepository(VerifyInput{GUN: spec.GUN, Root: r.Root, Targets: b,
			Timestamp: spec.Timestamp, Snapshot: spec.Snapshot, Now: time.Now()})
	}
	for _, name := range []string{"a&b", "<script>", "line\u2028sep\u2029", `back\u0026slash`} {
		b := escapedTargets(t, ks, pub, name, nil)
		if strings.ContainsAny(name, "<>&") && bytes.ContainsAny(b, "<>&") {
			t.Fatalf("the envelope left <, > or & as they are: %s", b)
		}
		rep, err := verifyTargets(b)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if tr := rep.Roles[len(rep.Roles)-1]; tr.Role != "targets" || !tr.ThresholdMet {
			t.Fatalf("%q: %+v", name, rep.Roles)
		}
		// notary's own check agrees.
		var s data.Signed
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		if err := signed.VerifySignatures(&s, data.BaseRole{Name: data.CanonicalTargetsRole, Keys: data.Keys{pub.ID(): pub}, Threshold: 1}); err != nil {
			t.Fatalf("%q: notary refuses it: %v", name, err)
		}
	}

	// Signed over the bytes as the file holds them, escapes and all.
	overEscaped := escapedTargets(t, ks, pub, "a&b", func(s *data.Signed) []byte {
		b, _ := Marshal(s)
		var env struct{ Signed json.RawMessage }
		json.Unmarshal(b, &env)
		return env.Signed
	})
	if rep, err := verifyTargets(overEscaped); err == nil && rep.Roles[len(rep.Roles)-1].ThresholdMet {
		t.Error("a signature over the escaped bytes was accepted")
	}
	good := escapedTargets(t, ks, pub, "a&b<c", nil)
	for what, doctored := range map[string][]byte{
		"& left raw":          bytes.Replace(good, []byte(`\u0026`), []byte("&"), 1),
		"upper-case hex":      bytes.Replace(good, []byte(`\u003c`), []byte(`\u003C`), 1),
		"another escape of a": bytes.Replace(good, []byte(`a\u0026b`), []byte(`\u0061\u0026b`), 1),
	} {
		if bytes.Equal(doctored, good) {
			t.Fatalf("%s: nothing changed", what)
		}
		if _, err := verifyTargets(doctored); err == nil || !strings.Contains(err.Error(), "canonical") {
			t.Errorf("%s: %v", what, err)
		}
	}
}
