package backup

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"

	"github.com/keyrite/keyrite/hsm"
)

type check struct {
	file      string
	custodian Custodian
	share     int
	id        *expected
	payload   [32]byte // SHA-256 of the plaintext
}

// CheckReport says what Check proved.
type CheckReport struct {
	Files   int `json:"files"`   // share files read back and decrypted
	Subsets int `json:"subsets"` // threshold-sized subsets recombined into the key
	Total   int `json:"total"`   // threshold-sized subsets that exist
}

// maxSubsets bounds Check's test restore: beyond it, n sliding windows.
const maxSubsets = 1024

// Check reads every file back through read (from disk, after writing)
// and proves it: each share file parses, its header holds exactly the
// stanzas the custodian's recipient produced (it is encrypted to that
// recipient and no one else), it decrypts to the share that was made, and
// threshold-sized subsets of the decrypted shares recombine into the key —
// every subset when there are at most 1024.
func (b *Backup) Check(read func(name string) ([]byte, error)) (*CheckReport, error) {
	rec, err := read(RecordName)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(rec, b.Files[RecordName]) {
		return nil, fmt.Errorf("%s: read back differs from what was written", RecordName)
	}
	var shares []*Share
	defer func() {
		for _, s := range shares {
			s.Wipe()
		}
	}()
	for _, c := range b.checks {
		s, err := c.readBack(b.Files[c.file], read)
		if s != nil {
			shares = append(shares, s)
		}
		if err != nil {
			return nil, err
		}
	}
	rep, err := b.testRestore(shares)
	if err != nil {
		return nil, fmt.Errorf("test restore: %w", err)
	}
	return rep, nil
}

// readBack reads one share file back and proves it is the file written,
// its header names the intended share and custodian, it is encrypted to
// the custodian's recipient only, and it decrypts to the share that was
// made. A share that decrypts is returned, even with an error, for the
// caller to wipe.
func (c *check) readBack(written []byte, read func(name string) ([]byte, error)) (*Share, error) {
	data, err := read(c.file)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(data, written) {
		return nil, &ShareError{File: c.file, Reason: "read back differs from what was written"}
	}
	f, err := ParseShareFile(c.file, data)
	if err != nil {
		return nil, err
	}
	if f.Header == nil || f.Header.Share != c.share || f.Header.Custodian != c.custodian.Name {
		return nil, &ShareError{File: c.file, Reason: "header does not name the intended share and custodian"}
	}
	s, err := f.open(c.id, nil)
	if err != nil {
		return nil, fmt.Errorf("custodian %s: %w", c.custodian.Name, err)
	}
	plain := s.p.marshal()
	sum := sha256.Sum256(plain)
	hsm.Wipe(plain)
	if sum != c.payload {
		return s, &ShareError{File: c.file, Reason: "decrypts to something other than the share that was made"}
	}
	return s, nil
}

// testRestore recombines threshold-sized subsets of the decrypted shares
// and checks that each recovers the key: every subset when there are at
// most maxSubsets, else one sliding window per share.
func (b *Backup) testRestore(shares []*Share) (*CheckReport, error) {
	t := b.Record.Threshold
	rep := &CheckReport{Files: len(shares), Total: binomial(len(shares), t)}
	try := func(sub []*Share) error {
		r, err := Recover(sub)
		if err != nil {
			return err
		}
		defer r.Wipe()
		if !r.Key.PublicKey.Equal(b.pub) {
			return errors.New("a subset of shares recovers a different key")
		}
		rep.Subsets++
		return nil
	}
	var err error
	if rep.Total <= maxSubsets {
		err = forSubsets(len(shares), t, func(idx []int) error {
			sub := make([]*Share, len(idx))
			for i, j := range idx {
				sub[i] = shares[j]
			}
			return try(sub)
		})
	} else {
		for i := 0; i < len(shares) && err == nil; i++ {
			sub := make([]*Share, t)
			for j := range sub {
				sub[j] = shares[(i+j)%len(shares)]
			}
			err = try(sub)
		}
	}
	if err != nil {
		return nil, err
	}
	return rep, nil
}

func binomial(n, k int) int {
	r := new(big.Int).Binomial(int64(n), int64(k))
	if !r.IsInt64() || r.Int64() > 1<<30 {
		return 1 << 30
	}
	return int(r.Int64())
}
