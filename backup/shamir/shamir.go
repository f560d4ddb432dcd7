// Package shamir splits a secret into shares so that any threshold of them
// recover it and fewer reveal nothing about it (Shamir's secret sharing over
// GF(2^8), one polynomial per byte of the secret).
//
// Field arithmetic is constant time: no table lookups indexed by secret
// bytes, no branches on them. The polynomial coefficients and the share
// coordinates (x) come from a CSPRNG; x is drawn at random among the 255
// non-zero field elements rather than numbered 1..n, so a share's x says
// nothing about how many shares exist.
//
// The package does no authentication: shares that were altered combine to a
// wrong secret without error. Callers check the result (keyrite compares the
// recovered key with the public key recorded in every share).
package shamir

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// MaxShares is the number of distinct non-zero x coordinates in GF(2^8).
const MaxShares = 255

// Share is one point of every byte's polynomial: the same X for all bytes.
type Share struct {
	X byte
	Y []byte
}

// Wipe overwrites the share's Y in memory.
func (s *Share) Wipe() {
	for i := range s.Y {
		s.Y[i] = 0
	}
	s.X = 0
}

// Split divides secret into n shares, any threshold of which recover it.
// r supplies the coefficients and coordinates; nil means crypto/rand.
func Split(secret []byte, n, threshold int, r io.Reader) ([]Share, error) {
	switch {
	case len(secret) == 0:
		return nil, errors.New("shamir: empty secret")
	case n < 1 || n > MaxShares:
		return nil, fmt.Errorf("shamir: %d shares requested; between 1 and %d are possible", n, MaxShares)
	case threshold < 1 || threshold > n:
		return nil, fmt.Errorf("shamir: threshold %d with %d shares; it must be between 1 and %d", threshold, n, n)
	}
	if r == nil {
		r = rand.Reader
	}
	xs, err := coordinates(n, r)
	if err != nil {
		return nil, err
	}
	// coeffs holds, per secret byte, the threshold-1 random coefficients
	// of degree 1..threshold-1; degree 0 is the secret byte itself.
	deg := threshold - 1
	coeffs := make([]byte, len(secret)*deg)
	defer wipe(coeffs)
	if _, err := io.ReadFull(r, coeffs); err != nil {
		return nil, fmt.Errorf("shamir: reading randomness: %w", err)
	}
	shares := make([]Share, n)
	for i, x := range xs {
		y := make([]byte, len(secret))
		for b := range secret {
			c := coeffs[b*deg : (b+1)*deg]
			// Horner: ((c[deg-1]·x + c[deg-2])·x + ... + c[0])·x + secret.
			var acc byte
			for j := deg - 1; j >= 0; j-- {
				acc = mul(acc, x) ^ c[j]
			}
			y[b] = mul(acc, x) ^ secret[b]
		}
		shares[i] = Share{X: x, Y: y}
	}
	return shares, nil
}

// coordinates draws n distinct non-zero field elements.
func coordinates(n int, r io.Reader) ([]byte, error) {
	var used [256]bool
	used[0] = true
	xs := make([]byte, 0, n)
	buf := make([]byte, 64)
	for len(xs) < n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("shamir: reading randomness: %w", err)
		}
		for _, x := range buf {
			if !used[x] && len(xs) < n {
				used[x] = true
				xs = append(xs, x)
			}
		}
	}
	return xs, nil
}

// Combine recovers the secret from shares by Lagrange interpolation at 0.
// It needs at least the threshold the shares were made with, which it
// cannot know: fewer shares give a wrong secret, not an error.
func Combine(shares []Share) ([]byte, error) {
	if len(shares) == 0 {
		return nil, errors.New("shamir: no shares")
	}
	size := len(shares[0].Y)
	var seen [256]bool
	for i, s := range shares {
		if len(s.Y) != size || size == 0 {
			return nil, fmt.Errorf("shamir: share %d is %d bytes long, share 1 is %d: they are not of one secret", i+1, len(s.Y), size)
		}
		if s.X == 0 {
			return nil, fmt.Errorf("shamir: share %d has x = 0, which no share has", i+1)
		}
		if seen[s.X] {
			return nil, fmt.Errorf("shamir: two shares have x = %d: the same share was given twice", s.X)
		}
		seen[s.X] = true
	}
	secret := make([]byte, size)
	for i, si := range shares {
		// Lagrange basis at 0: l_i = Π_{j≠i} x_j / (x_i + x_j) (in GF(2^8)
		// addition and subtraction are both XOR).
		num, den := byte(1), byte(1)
		for j, sj := range shares {
			if i == j {
				continue
			}
			num = mul(num, sj.X)
			den = mul(den, si.X^sj.X)
		}
		l := mul(num, inv(den))
		for b := range secret {
			secret[b] ^= mul(si.Y[b], l)
		}
	}
	return secret, nil
}

// mul multiplies in GF(2^8) modulo x^8+x^4+x^3+x+1 (AES's polynomial),
// without branches or tables.
func mul(a, b byte) byte {
	var p byte
	for i := 0; i < 8; i++ {
		p ^= -(b & 1) & a
		carry := -(a >> 7)
		a = (a << 1) ^ (carry & 0x1b)
		b >>= 1
	}
	return p
}

// inv returns a^254 = a^-1 (and 0 for 0), by a fixed sequence of
// multiplications.
func inv(a byte) byte {
	// 254 = 0b11111110: square-and-multiply over its bits.
	r := byte(1)
	for i := 7; i >= 0; i-- {
		r = mul(r, r)
		if (254>>i)&1 == 1 { // branch on the public exponent only
			r = mul(r, a)
		}
	}
	return r
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
