package backup

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/keyrite/keyrite/backup/shamir"
	"github.com/keyrite/keyrite/hsm"
)

// Share is one decrypted share.
type Share struct {
	File string
	p    *payload
}

// Number is the share's number (1..Shares).
func (s *Share) Number() int { return s.p.Share }

// Custodian is the name the share was made for.
func (s *Share) Custodian() string { return s.p.Custodian }

// KeyID is the key the share claims to be of.
func (s *Share) KeyID() string { return s.p.KeyID }

// Threshold is the number of shares needed.
func (s *Share) Threshold() int { return s.p.Threshold }

// Wipe overwrites the share's secret part.
func (s *Share) Wipe() {
	if s != nil && s.p != nil {
		hsm.Wipe(s.p.Y)
	}
}

// Recovered is a key recovered from shares. Wipe it when done.
type Recovered struct {
	Key       *ecdsa.PrivateKey
	KeyID     string
	Label     string
	Algorithm string
	Threshold int
	Shares    int
	Created   time.Time
	Used      []int // share numbers that made the key
	Given     []int // share numbers given, all verified
}

// Wipe overwrites the private scalar as far as Go allows: the big.Int's
// words are zeroed, but crypto/ecdsa keeps its own copy that nothing can
// reach, and earlier big.Int arithmetic may have left copies on the heap.
func (r *Recovered) Wipe() {
	if r != nil {
		WipeKey(r.Key)
	}
}

// WipeKey zeroes an ECDSA private key's D in place (see Recovered.Wipe for
// what it cannot reach).
func WipeKey(k *ecdsa.PrivateKey) {
	if k == nil || k.D == nil {
		return
	}
	words := k.D.Bits()
	for i := range words {
		words[i] = 0
	}
	k.D.SetInt64(0)
}

// ThresholdError is a recovery with too few shares.
type ThresholdError struct {
	KeyID      string
	Have, Need int
}

func (e *ThresholdError) Error() string {
	return fmt.Sprintf("key %s needs %d shares, %d given: fewer than the threshold reveal nothing about the key", short(e.KeyID), e.Need, e.Have)
}

// maxRecoverTries bounds the search for a consistent subset.
const maxRecoverTries = 4096

// Recover recombines shares into the key. The shares must all be of one
// key; a subset of the threshold's size must recover a key whose public key
// is the one every share records; then every share given must carry a tag
// made with that key. A damaged or forged share is named when enough good
// shares are given to find it out.
func Recover(shares []*Share) (*Recovered, error) {
	if len(shares) == 0 {
		return nil, errors.New("no shares given")
	}
	if err := checkSameBackup(shares); err != nil {
		return nil, err
	}
	first := shares[0]
	t := first.p.Threshold
	if len(shares) < t {
		return nil, &ThresholdError{KeyID: first.p.KeyID, Have: len(shares), Need: t}
	}
	pub, err := recordedPublicKey(first)
	if err != nil {
		return nil, err
	}
	found, used := findKey(shares, t, pub)
	if found == nil {
		return nil, &ShareError{File: fmt.Sprintf("set (%d given)", len(shares)),
			Reason: fmt.Sprintf("no %d of the shares given recombine into key %s: at least one share is damaged or forged", t, short(first.p.KeyID))}
	}
	r := &Recovered{Key: found, KeyID: first.p.KeyID, Label: first.p.Label, Algorithm: first.p.Algorithm,
		Threshold: t, Shares: first.p.Shares, Created: first.p.Created, Used: used}
	if err := r.checkTags(shares); err != nil {
		return nil, err
	}
	return r, nil
}

// checkSameBackup checks that the shares are of one key and one backup,
// each share given once.
func checkSameBackup(shares []*Share) error {
	first := shares[0]
	byNumber := map[int]*Share{}
	for _, s := range shares {
		if s.p.KeyID != first.p.KeyID || !bytes.Equal(s.p.PublicKey, first.p.PublicKey) {
			return &ShareError{File: s.File, Reason: fmt.Sprintf("is a share of key %s, but %s is of key %s: shares of different keys cannot be combined",
				short(s.p.KeyID), first.File, short(first.p.KeyID))}
		}
		if s.p.Threshold != first.p.Threshold || s.p.Shares != first.p.Shares || s.p.Algorithm != first.p.Algorithm ||
			s.p.Label != first.p.Label || !s.p.Created.Equal(first.p.Created) {
			return &ShareError{File: s.File, Reason: fmt.Sprintf("disagrees with %s on the backup's threshold, size, label or date: damaged or forged", first.File)}
		}
		if o, ok := byNumber[s.p.Share]; ok {
			return &ShareError{File: s.File, Reason: fmt.Sprintf("is share %d, and so is %s: each share counts once", s.p.Share, o.File)}
		}
		byNumber[s.p.Share] = s
	}
	return nil
}

// recordedPublicKey is the public key a share records, checked against
// its algorithm.
func recordedPublicKey(s *Share) (*ecdsa.PublicKey, error) {
	pubAny, err := x509.ParsePKIXPublicKey(s.p.PublicKey)
	if err != nil {
		return nil, &ShareError{File: s.File, Reason: "records an unreadable public key", Err: err}
	}
	pub, ok := pubAny.(*ecdsa.PublicKey)
	if !ok {
		return nil, &ShareError{File: s.File, Reason: "records a public key that is not ECDSA"}
	}
	if alg, err := hsm.CurveName(pub); err != nil || alg != s.p.Algorithm {
		return nil, &ShareError{File: s.File, Reason: "records a public key that does not match its algorithm"}
	}
	return pub, nil
}

// findKey tries threshold-sized subsets of the shares (at most
// maxRecoverTries) until one recombines into the private key of pub. It
// returns the key and the numbers of the shares that made it, or nil.
func findKey(shares []*Share, t int, pub *ecdsa.PublicKey) (*ecdsa.PrivateKey, []int) {
	var found *ecdsa.PrivateKey
	var used []int
	tries := 0
	errStop := errors.New("stop")
	forSubsets(len(shares), t, func(idx []int) error {
		tries++
		if tries > maxRecoverTries {
			return errStop
		}
		parts := make([]shamir.Share, len(idx))
		for i, j := range idx {
			parts[i] = shamir.Share{X: shares[j].p.X, Y: shares[j].p.Y}
		}
		d, err := shamir.Combine(parts)
		if err != nil {
			return nil
		}
		defer hsm.Wipe(d)
		k, err := ecdsa.ParseRawPrivateKey(pub.Curve, d)
		if err != nil || !k.PublicKey.Equal(pub) {
			WipeKey(k)
			return nil
		}
		found = k
		for _, j := range idx {
			used = append(used, shares[j].p.Share)
		}
		return errStop
	})
	return found, used
}

// checkTags checks that every share given carries a tag made with the
// recovered key, and lists them in r.Given. A share whose tag does not
// verify is named, and r's key is wiped.
func (r *Recovered) checkTags(shares []*Share) error {
	d, err := r.Key.Bytes()
	if err != nil {
		return err
	}
	tk, err := tagKey(d, r.KeyID)
	hsm.Wipe(d)
	if err != nil {
		return err
	}
	defer hsm.Wipe(tk)
	for _, s := range shares {
		if !hmac.Equal(tag(tk, s.p), s.p.Tag) {
			r.Wipe()
			return &ShareError{File: s.File, Reason: fmt.Sprintf("share %d was not made with key %s: damaged or forged (the other shares recover the key)", s.p.Share, short(r.KeyID))}
		}
		r.Given = append(r.Given, s.p.Share)
	}
	return nil
}
