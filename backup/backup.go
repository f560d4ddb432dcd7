// Package backup makes and opens keyrite's backups of root keys: the
// private scalar split into M-of-N Shamir shares (backup/shamir), each
// share authenticated and encrypted with age to one custodian, written as
// a text file a person can recognise, print (backup/paper) and type back.
//
// The package never writes files: Create returns their contents and Check
// proves that what was written can be read back, decrypted for the
// intended recipients only, and recombined into the key.
package backup

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// RecordName is the public description of a backup, next to its shares.
const RecordName = "backup.json"

// ShareFileName is the file a custodian's share is written to.
func ShareFileName(custodian string) string { return custodian + ".share.age" }

// Record is backup.json: everything about the backup that is public.
type Record struct {
	Format       string        `json:"format"`
	KeyID        string        `json:"key_id"`
	Algorithm    string        `json:"algorithm"`
	PublicKeyPEM string        `json:"public_key_pem"`
	Label        string        `json:"label"`
	Created      time.Time     `json:"created"`
	Threshold    int           `json:"threshold"`
	Shares       []RecordShare `json:"shares"`
}

// RecordShare describes one share file.
type RecordShare struct {
	Share     int    `json:"share"`
	Custodian string `json:"custodian"`
	Kind      string `json:"kind"`
	Recipient string `json:"recipient"` // public; "passphrase" for passphrase shares
	File      string `json:"file"`
	SHA256    string `json:"sha256"`
}

const recordFormat = "keyrite-backup/v1"

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// tagKey derives the key of the share tags from the secret: only someone
// who can recover the key can make a tag that verifies.
func tagKey(d []byte, keyID string) ([]byte, error) {
	return hkdf.Key(sha256.New, d, nil, "keyrite share tag key v1 "+keyID, 32)
}

func tag(k []byte, p *payload) []byte {
	m := hmac.New(sha256.New, k)
	fmt.Fprintf(m, "keyrite share v1|%s|%s|%d|%d|%d|%d|%s|", p.KeyID, p.Algorithm, p.Share, p.Shares, p.Threshold, p.X, p.Label)
	m.Write(p.PublicKey)
	m.Write(p.Y)
	return m.Sum(nil)
}

// forSubsets calls f with the indexes of every k-subset of n, stopping at
// the first error.
func forSubsets(n, k int, f func([]int) error) error {
	idx := make([]int, k)
	for i := range idx {
		idx[i] = i
	}
	for {
		if err := f(append([]int(nil), idx...)); err != nil {
			return err
		}
		i := k - 1
		for i >= 0 && idx[i] == n-k+i {
			i--
		}
		if i < 0 {
			return nil
		}
		idx[i]++
		for j := i + 1; j < k; j++ {
			idx[j] = idx[j-1] + 1
		}
	}
}

func short(id string) string {
	if len(id) > 16 {
		return id[:16] + "…"
	}
	return id
}
