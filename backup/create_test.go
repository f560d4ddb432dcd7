package backup

import (
	"crypto/ecdsa"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

func TestCreateRefuses(t *testing.T) {
	ps := parties(t, 2)
	cs := []Custodian{ps[0].c, ps[1].c}
	for _, c := range []struct {
		cs   []Custodian
		k    int
		want string
	}{
		{nil, 1, "no custodians"},
		{cs, 3, "threshold 3 with 2 custodians"},
		{cs, 0, "threshold 0"},
		{[]Custodian{cs[0], cs[0]}, 1, "given twice"},
	} {
		_, err := Create(CreateOptions{Key: newKey(t), KeyID: testKeyID, Custodians: c.cs, Threshold: c.k, Created: time.Now()})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want %q", err, c.want)
		}
	}
}

func TestNewKey(t *testing.T) {
	a, err := NewKey("P-256", []byte("device entropy"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewKey("P-256", []byte("device entropy"))
	if a.Equal(b) {
		t.Fatal("two keys with the same device input are equal: the OS RNG is not mixed in")
	}
	c, err := NewKey("P-384")
	if err != nil || c.Curve.Params().Name != "P-384" {
		t.Fatalf("P-384: %v", err)
	}
	if _, err := NewKey("P-521"); err == nil {
		t.Fatal("P-521 accepted")
	}
}

func BenchmarkNewKeyP256(b *testing.B) {
	for b.Loop() {
		NewKey("P-256", make([]byte, 32))
	}
}

// BenchmarkBaselineGenerateKey is crypto/ecdsa's own generation, the
// baseline for NewKey.
func BenchmarkBaselineGenerateKey(b *testing.B) {
	for b.Loop() {
		ecdsa.GenerateKey(newCurve(), rand.Reader)
	}
}

func benchParties(b *testing.B, n int) []Custodian {
	var cs []Custodian
	for i := 0; i < n; i++ {
		id, _ := age.GenerateX25519Identity()
		c, _ := ParseCustodian(fmt.Sprintf("c%d=%s", i, id.Recipient()))
		cs = append(cs, c)
	}
	return cs
}

func benchCreateCheck(b *testing.B, n, k int) {
	cs := benchParties(b, n)
	key, _ := NewKey("P-256")
	for b.Loop() {
		bk, err := Create(CreateOptions{Key: key, KeyID: testKeyID, Label: "root", Custodians: cs, Threshold: k, Created: time.Now()})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := bk.Check(func(name string) ([]byte, error) { return bk.Files[name], nil }); err != nil {
			b.Fatal(err)
		}
		bk.Wipe()
	}
}

// BenchmarkCreateCheck2of3 and 3of5: split, encrypt to X25519 custodians,
// and the full read-back check (decrypt each share, recombine every
// threshold subset).
func BenchmarkCreateCheck2of3(b *testing.B) { benchCreateCheck(b, 3, 2) }
func BenchmarkCreateCheck3of5(b *testing.B) { benchCreateCheck(b, 5, 3) }

// BenchmarkBaselineAgeEncrypt3 encrypts 500 bytes to three X25519
// recipients separately: the age cost inside a 2-of-3 backup.
func BenchmarkBaselineAgeEncrypt3(b *testing.B) {
	cs := benchParties(b, 3)
	plain := make([]byte, 500)
	for b.Loop() {
		for _, c := range cs {
			r, _ := c.recipient(nil, 0, nil)
			encrypt(plain, r)
		}
	}
}
