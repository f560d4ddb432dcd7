package recovery

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/trust"
)

// BackupOptions control VerifyBackup.
type BackupOptions struct {
	ShareInputs
	Record string   // backup.json to compare with (optional)
	Roots  []string // root.json files whose root keys must include the key (optional)
}

// RootMatch is a root.json that names the key.
type RootMatch struct {
	File       string `json:"file"`
	CommonName string `json:"common_name"`
	KeyID      string `json:"root_key_id"`
}

// BackupReport is what VerifyBackup found.
type BackupReport struct {
	OK            bool        `json:"ok"`
	KeyID         string      `json:"key_id"`
	Words         string      `json:"key_id_words"`
	Algorithm     string      `json:"algorithm"`
	Label         string      `json:"label"`
	Threshold     int         `json:"threshold"`
	Total         int         `json:"shares_total"`
	Shares        []ShareInfo `json:"shares"`
	Used          []int       `json:"shares_used"`
	RecordChecked bool        `json:"record_checked"`
	Roots         []RootMatch `json:"roots,omitempty"`
}

// VerifyBackup proves that the shares given restore their key: decrypted
// with the custodians' identities, recombined in memory, checked against
// the public key every share records (and backup.json and root
// certificates when given), then wiped. It writes nothing.
func VerifyBackup(o BackupOptions) (*BackupReport, error) {
	r, infos, err := recoverShares(o.ShareInputs)
	if err != nil {
		return nil, err
	}
	defer r.Wipe()
	words, _ := backup.Words(r.KeyID)
	rep := &BackupReport{KeyID: r.KeyID, Words: words, Algorithm: r.Algorithm, Label: r.Label, Threshold: r.Threshold,
		Total: r.Shares, Shares: infos, Used: r.Used}
	if o.Record != "" {
		b, err := fsutil.ReadRegular(o.Record, backup.MaxRecordSize)
		if err != nil {
			return nil, err
		}
		var rec backup.Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("%s: not a keyrite backup record: %v", o.Record, err)
		}
		blk, _ := pem.Decode([]byte(rec.PublicKeyPEM))
		desc, err := session.DescribeKey("", r.Key.Public(), "", "", false)
		if err != nil {
			return nil, err
		}
		want, _ := pem.Decode([]byte(desc.PublicPEM))
		if rec.KeyID != r.KeyID || blk == nil || want == nil || string(blk.Bytes) != string(want.Bytes) {
			return nil, &KeyMismatchError{Reason: fmt.Sprintf("%s records key %s, the shares restore key %s", o.Record, rec.KeyID, r.KeyID)}
		}
		rep.RecordChecked = true
	}
	for _, p := range o.Roots {
		b, err := fsutil.ReadRegular(p, bundle.MaxMetadataSize)
		if err != nil {
			return nil, err
		}
		keys, err := trust.RootKeys(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		i := slices.IndexFunc(keys, func(k trust.RootKey) bool { return k.CanonicalID == r.KeyID })
		if i < 0 {
			return nil, &KeyMismatchError{Reason: fmt.Sprintf("%s: key %s is not one of its root keys", p, r.KeyID)}
		}
		rep.Roots = append(rep.Roots, RootMatch{File: p, CommonName: keys[i].CommonName, KeyID: keys[i].KeyID})
	}
	rep.OK = true
	return rep, nil
}
