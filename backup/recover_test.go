package backup

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestSubsets: 2-of-3 and 3-of-5 restore from every subset of the
// threshold's size (and larger), and no smaller subset restores.
func TestSubsets(t *testing.T) {
	for _, c := range []struct{ n, k int }{{3, 2}, {5, 3}} {
		ps := parties(t, c.n)
		key := newKey(t)
		b := makeBackup(t, key, ps, c.k)
		var all []*Share
		for _, p := range ps {
			all = append(all, mustOpen(t, b, p))
		}
		for size := 1; size <= c.n; size++ {
			forSubsets(c.n, size, func(idx []int) error {
				var sub []*Share
				for _, i := range idx {
					sub = append(sub, all[i])
				}
				r, err := Recover(sub)
				if size < c.k {
					var te *ThresholdError
					if !errors.As(err, &te) || te.Need != c.k || te.Have != size {
						t.Errorf("%d-of-%d with %v: err = %v, want a threshold error", c.k, c.n, idx, err)
					}
					if !strings.Contains(fmt.Sprint(err), fmt.Sprintf("needs %d shares, %d given", c.k, size)) {
						t.Errorf("message: %v", err)
					}
					return nil
				}
				if err != nil || !r.Key.Equal(key) {
					t.Errorf("%d-of-%d with %v: %v", c.k, c.n, idx, err)
				}
				return nil
			})
		}
	}
}

// TestMixedKeys: shares of two backups of different keys do not combine.
func TestMixedKeys(t *testing.T) {
	ps := parties(t, 3)
	b1 := makeBackup(t, newKey(t), ps, 2)
	b2 := makeBackup(t, newKey(t), ps, 2)
	_, err := Recover([]*Share{mustOpen(t, b1, ps[0]), mustOpen(t, b2, ps[1])})
	var se *ShareError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "different keys") && !strings.Contains(err.Error(), "do not recombine") && !strings.Contains(err.Error(), "no 2 of the shares") {
		t.Fatalf("mixed keys: %v", err)
	}
}

// TestMixedKeysSameID: two keys whose shares claim the same key ID still
// differ by public key.
func TestMixedKeysSameID(t *testing.T) {
	ps := parties(t, 3)
	b1 := makeBackup(t, newKey(t), ps, 2)
	b2 := makeBackup(t, newKey(t), ps, 2)
	_, err := Recover([]*Share{mustOpen(t, b1, ps[0]), mustOpen(t, b2, ps[1])})
	if err == nil || !strings.Contains(err.Error(), "shares of different keys cannot be combined") {
		t.Fatalf("err = %v", err)
	}
}

// TestForgedShare: a custodian who replaces their share by one encrypted
// correctly but with a different y is caught by the tags when the other
// shares recover the key, and named.
func TestForgedShare(t *testing.T) {
	ps := parties(t, 3)
	key := newKey(t)
	b := makeBackup(t, key, ps, 2)
	good0, good1 := mustOpen(t, b, ps[0]), mustOpen(t, b, ps[1])
	forged := mustOpen(t, b, ps[2])
	forged.p.Y[0] ^= 0x55
	forged.File = "forged.share.age"
	// With two good shares the key is found and the forgery named.
	_, err := Recover([]*Share{good0, good1, forged})
	if err == nil || !strings.Contains(err.Error(), "forged.share.age") || !strings.Contains(err.Error(), "damaged or forged") {
		t.Fatalf("err = %v", err)
	}
	// With the threshold exactly, nothing recombines.
	_, err = Recover([]*Share{good0, forged})
	if err == nil || !strings.Contains(err.Error(), "damaged or forged") {
		t.Fatalf("err = %v", err)
	}
}

// TestThresholdOne: with threshold 1 every custodian alone restores.
func TestThresholdOne(t *testing.T) {
	ps := parties(t, 3)
	key := newKey(t)
	b := makeBackup(t, key, ps, 1)
	for _, p := range ps {
		r, err := Recover([]*Share{mustOpen(t, b, p)})
		if err != nil || !r.Key.Equal(key) {
			t.Fatalf("%s alone: %v", p.c.Name, err)
		}
	}
}
