package shamir

import (
	"bytes"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"testing/quick"
)

// slowMul is the schoolbook definition: carry-less multiply, then reduce.
func slowMul(a, b byte) byte {
	var p uint16
	for i := 0; i < 8; i++ {
		if b&(1<<i) != 0 {
			p ^= uint16(a) << i
		}
	}
	for i := 15; i >= 8; i-- {
		if p&(1<<i) != 0 {
			p ^= 0x11b << (i - 8)
		}
	}
	return byte(p)
}

func TestFieldArithmetic(t *testing.T) {
	for a := 0; a < 256; a++ {
		for b := 0; b < 256; b++ {
			if got, want := mul(byte(a), byte(b)), slowMul(byte(a), byte(b)); got != want {
				t.Fatalf("mul(%#x, %#x) = %#x, want %#x", a, b, got, want)
			}
		}
	}
	if inv(0) != 0 {
		t.Errorf("inv(0) = %#x", inv(0))
	}
	for a := 1; a < 256; a++ {
		if p := mul(byte(a), inv(byte(a))); p != 1 {
			t.Fatalf("%#x · inv(%#x) = %#x", a, a, p)
		}
	}
	// AES's textbook example: {57} · {83} = {c1}.
	if mul(0x57, 0x83) != 0xc1 {
		t.Errorf("{57}·{83} = %#x, want 0xc1", mul(0x57, 0x83))
	}
}

// subsets calls f with every k-element subset of shares.
func subsets(shares []Share, k int, f func([]Share)) {
	var rec func(start int, cur []Share)
	rec = func(start int, cur []Share) {
		if len(cur) == k {
			f(append([]Share(nil), cur...))
			return
		}
		for i := start; i < len(shares); i++ {
			rec(i+1, append(cur, shares[i]))
		}
	}
	rec(0, nil)
}

func randomSecret(t *testing.T, n int) []byte {
	s := make([]byte, n)
	if _, err := rand.Read(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEverySubset: for 2-of-3 and 3-of-5 (and a few others), every subset
// of at least the threshold recovers the secret and every smaller subset
// does not.
func TestEverySubset(t *testing.T) {
	for _, c := range []struct{ n, k int }{{3, 2}, {5, 3}, {1, 1}, {3, 1}, {4, 4}, {7, 4}} {
		secret := randomSecret(t, 32)
		shares, err := Split(secret, c.n, c.k, nil)
		if err != nil {
			t.Fatal(err)
		}
		for size := 1; size <= c.n; size++ {
			subsets(shares, size, func(sub []Share) {
				got, err := Combine(sub)
				if err != nil {
					t.Fatalf("%d-of-%d, %d shares: %v", c.k, c.n, size, err)
				}
				if ok := bytes.Equal(got, secret); ok != (size >= c.k) {
					t.Fatalf("%d-of-%d: %d shares recover the secret: %v", c.k, c.n, size, ok)
				}
			})
		}
	}
}

// TestRoundTripProperty: random secrets, share counts, thresholds and
// subsets.
func TestRoundTripProperty(t *testing.T) {
	f := func(secret []byte, nSeed, kSeed uint8, perm uint64) bool {
		if len(secret) == 0 {
			secret = []byte{0}
		}
		n := int(nSeed)%12 + 1
		k := int(kSeed)%n + 1
		shares, err := Split(secret, n, k, nil)
		if err != nil {
			return false
		}
		r := mrand.New(mrand.NewPCG(perm, 1))
		r.Shuffle(len(shares), func(i, j int) { shares[i], shares[j] = shares[j], shares[i] })
		size := k + r.IntN(n-k+1)
		got, err := Combine(shares[:size])
		return err == nil && bytes.Equal(got, secret)
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 500}); err != nil {
		t.Error(err)
	}
}

// TestCoordinates: x is non-zero and distinct, also for all 255 shares.
func TestCoordinates(t *testing.T) {
	shares, err := Split([]byte("s"), MaxShares, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	var seen [256]bool
	for _, s := range shares {
		if s.X == 0 || seen[s.X] {
			t.Fatalf("bad or repeated x %d", s.X)
		}
		seen[s.X] = true
	}
	// Coordinates are random, not 1..n: two splits differ.
	a, _ := Split([]byte("s"), 3, 2, nil)
	b, _ := Split([]byte("s"), 3, 2, nil)
	c, _ := Split([]byte("s"), 3, 2, nil)
	if a[0].X == b[0].X && b[0].X == c[0].X && a[1].X == b[1].X && b[1].X == c[1].X {
		t.Errorf("three splits used the same coordinates: not random")
	}
}

// TestBelowThresholdRevealsNothing: with threshold 2, one share's y is
// uniformly distributed whatever the secret. A chi-square test over 256
// buckets for two very different secrets.
func TestBelowThresholdRevealsNothing(t *testing.T) {
	const trials = 256 * 64
	for _, secret := range []byte{0x00, 0xff} {
		var counts [256]int
		for i := 0; i < trials; i++ {
			shares, err := Split([]byte{secret}, 2, 2, nil)
			if err != nil {
				t.Fatal(err)
			}
			counts[shares[0].Y[0]]++
		}
		exp := float64(trials) / 256
		var chi float64
		for _, c := range counts {
			d := float64(c) - exp
			chi += d * d / exp
		}
		// 255 degrees of freedom: p < 1e-6 beyond ~ 370.
		if chi > 370 {
			t.Errorf("secret %#x: one share's y is not uniform (chi² = %.0f)", secret, chi)
		}
	}
}

func TestErrors(t *testing.T) {
	good, err := Split([]byte("secret"), 3, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		secret []byte
		n, k   int
		want   string
	}{
		{"empty", nil, 3, 2, "empty secret"},
		{"no shares", []byte("s"), 0, 1, "0 shares requested"},
		{"too many", []byte("s"), 256, 2, "256 shares requested"},
		{"threshold 0", []byte("s"), 3, 0, "threshold 0"},
		{"threshold above n", []byte("s"), 3, 4, "threshold 4"},
	} {
		if _, err := Split(c.secret, c.n, c.k, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := Split([]byte("s"), 3, 2, failingReader{}); err == nil || !strings.Contains(err.Error(), "randomness") {
		t.Errorf("failing reader: err = %v", err)
	}
	for _, c := range []struct {
		name   string
		shares []Share
		want   string
	}{
		{"none", nil, "no shares"},
		{"twice", []Share{good[0], good[0]}, "given twice"},
		{"x zero", []Share{{X: 0, Y: good[0].Y}, good[1]}, "x = 0"},
		{"lengths", []Share{good[0], {X: good[1].X, Y: good[1].Y[:3]}}, "not of one secret"},
	} {
		if _, err := Combine(c.shares); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}

// TestAlteredShare: one changed byte gives a wrong secret (the package
// does not authenticate; callers must check the result).
func TestAlteredShare(t *testing.T) {
	secret := randomSecret(t, 32)
	shares, _ := Split(secret, 3, 2, nil)
	shares[1].Y[5] ^= 1
	got, err := Combine(shares[:2])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, secret) {
		t.Fatal("an altered share recovered the secret")
	}
	shares[0].Wipe()
	if shares[0].X != 0 || !bytes.Equal(shares[0].Y, make([]byte, 32)) {
		t.Error("Wipe left data")
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func BenchmarkSplit32of2of3(b *testing.B) {
	secret := make([]byte, 32)
	for b.Loop() {
		Split(secret, 3, 2, nil)
	}
}

func BenchmarkCombine32of2(b *testing.B) {
	shares, _ := Split(make([]byte, 32), 3, 2, nil)
	for b.Loop() {
		Combine(shares[:2])
	}
}

// BenchmarkBaselineRand32 reads 32 random bytes: what a P-256 scalar costs
// to draw, the baseline for the two above.
func BenchmarkBaselineRand32(b *testing.B) {
	buf := make([]byte, 32)
	for b.Loop() {
		rand.Read(buf)
	}
}
