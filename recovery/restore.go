// Package recovery holds the paths back after a loss: restoring a
// backed-up key from its custodians' shares onto a new device (also the
// way to finish a backed-up generation whose import was interrupted),
// proving a backup restores without writing anything, and recovering a
// repository whose targets key is lost or compromised. It runs in the same
// session frame as the ceremonies (ceremony/session).
package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/trust"
)

// ShareInputs say where the shares are and what opens them.
type ShareInputs struct {
	Shares     []string // share files (or text typed or scanned from paper)
	Identities []string // age identity files (X25519, hybrid, SSH, plugin)
	Plugins    []string // plugins used without an identity file, like age -j NAME
	// Passphrase returns the passphrase of a passphrase-encrypted share.
	Passphrase func(f *backup.ShareFile) ([]byte, error)
	// SSHPassphrase returns the passphrase of an encrypted SSH key file.
	SSHPassphrase func(file string) ([]byte, error)
	PluginUI      *plugin.ClientUI
	MaxWorkFactor int
}

// ShareInfo describes a share that was used.
type ShareInfo struct {
	File      string `json:"file"`
	Share     int    `json:"share"`
	Custodian string `json:"custodian"`
	SHA256    string `json:"sha256"`
}

// KeyMismatchError is a recovered key that is not the key it should be.
type KeyMismatchError struct{ Reason string }

func (e *KeyMismatchError) Error() string { return e.Reason }

// recoverShares decrypts the shares with the identities given and
// recombines the key in memory. The caller wipes the result.
func recoverShares(in ShareInputs) (*backup.Recovered, []ShareInfo, error) {
	if len(in.Shares) == 0 {
		return nil, nil, errors.New("no share files given")
	}
	var ids []age.Identity
	for _, p := range in.Identities {
		data, err := backup.ReadIdentityFile(p)
		if err != nil {
			return nil, nil, err
		}
		var sshPass func() ([]byte, error)
		if in.SSHPassphrase != nil {
			file := p
			sshPass = func() ([]byte, error) { return in.SSHPassphrase(file) }
		}
		parsed, err := backup.ParseIdentities(p, data, in.PluginUI, sshPass)
		hsm.Wipe(data)
		if err != nil {
			return nil, nil, err
		}
		ids = append(ids, parsed...)
	}
	for _, name := range in.Plugins {
		id, err := backup.PluginIdentity(name, in.PluginUI)
		if err != nil {
			return nil, nil, err
		}
		ids = append(ids, id)
	}
	opener := &backup.Opener{Identities: ids, Passphrase: in.Passphrase, MaxWorkFactor: in.MaxWorkFactor}
	var shares []*backup.Share
	defer func() {
		for _, s := range shares {
			s.Wipe()
		}
	}()
	var infos []ShareInfo
	for _, p := range in.Shares {
		data, err := backup.ReadShareFile(p)
		if err != nil {
			return nil, nil, err
		}
		f, err := backup.ParseShareFile(p, data)
		if err != nil {
			return nil, nil, err
		}
		s, err := opener.Open(f)
		if err != nil {
			return nil, nil, err
		}
		shares = append(shares, s)
		infos = append(infos, ShareInfo{File: p, Share: s.Number(), Custodian: s.Custodian(), SHA256: bundle.SHA256Hex(data)})
	}
	r, err := backup.Recover(shares)
	if err != nil {
		return nil, nil, err
	}
	pub, err := trust.PublicKey(r.Key.Public())
	if err != nil {
		r.Wipe()
		return nil, nil, err
	}
	if pub.ID() != r.KeyID {
		r.Wipe()
		return nil, nil, &KeyMismatchError{Reason: fmt.Sprintf("the shares name key ID %s, but the key they restore has ID %s: they were not made by keyrite or were forged", r.KeyID, pub.ID())}
	}
	return r, infos, nil
}

// RestoreOptions control Restore.
type RestoreOptions struct {
	ShareInputs
	To    string // device URI
	Label string // default: the label the backup recorded
	Out   string // restore record directory to create
}

// RestoreResult is what Restore reports.
type RestoreResult struct {
	session.KeyDescription
	Words      string              `json:"key_id_words"`
	Device     session.ImportedKey `json:"device"`
	Threshold  int                 `json:"threshold"`
	SharesUsed []int               `json:"shares_used"`
	Shares     []ShareInfo         `json:"shares"`
	Out        string              `json:"record"`
	Rehearsal  bool                `json:"rehearsal"`
}

// Restore recombines a backed-up key from its custodians' shares in
// memory, imports it into a device (a new YubiKey or token after a loss,
// or a device a backed-up generation did not reach), checks that the
// device signs with it, wipes it, and writes a record directory with the
// transcript.
func Restore(ctx context.Context, env session.Env, o RestoreOptions) (*RestoreResult, error) {
	if o.To == "" {
		return nil, &session.MissingInputError{What: "restore device"}
	}
	if _, err := session.DeviceKey(o.To); err != nil {
		return nil, err
	}
	if o.Out == "" {
		return nil, &session.MissingInputError{What: "record directory"}
	}
	if err := fsutil.RefuseExisting(o.Out, "record"); err != nil {
		return nil, err
	}
	s := session.New(env, "recover restore")
	defer s.Close()
	s.JournalFor(o.Out, "")
	b, err := s.Backend(ctx, o.To)
	if err != nil {
		return nil, session.WrapDevice(o.To, err)
	}
	r, infos, err := recoverShares(o.ShareInputs)
	if err != nil {
		return nil, err
	}
	defer r.Wipe()
	label := o.Label
	if label == "" {
		label = r.Label
	}
	reuse, err := s.Leftovers(ctx, []hsm.Backend{b}, func(l session.Leftover) bool {
		return l.Label == label && l.KeyID == r.KeyID && l.Command == s.Command()
	})
	if err != nil {
		return nil, err
	}
	if _, ok := reuse[label]; !ok {
		if err := s.CheckCapacity(ctx, session.OneKeyEach(session.NeedImport, "the restored key "+label, []hsm.Backend{b}, []string{o.To})...); err != nil {
			return nil, err
		}
		if err := session.LabelFree(ctx, b, label); err != nil {
			return nil, err
		}
	}
	desc, err := session.DescribeKey("", r.Key.Public(), label, hsm.OriginImported, s.Software())
	if err != nil {
		return nil, err
	}
	if err := s.Begin(nil, map[string]any{"shares": infos}); err != nil {
		return nil, err
	}
	if err := s.Record("backup.restored", map[string]any{"key_id": r.KeyID, "algorithm": r.Algorithm, "threshold": r.Threshold,
		"shares_used": r.Used, "shares_verified": r.Given, "backup_created": r.Created, "where": "memory of this computer"}); err != nil {
		return nil, err
	}
	k, err := importJournalled(ctx, s, b, r, label, reuse, hsm.KeySpec{Label: label, Algorithm: r.Algorithm, Slot: session.URISlot(o.To)})
	if err != nil {
		return nil, session.WrapDevice(o.To, fmt.Errorf("importing the restored key: %w (the shares are unchanged; nothing was written)", err))
	}
	info := b.Info()
	desc.URI = k.URI()
	words, _ := backup.Words(r.KeyID)
	res := &RestoreResult{KeyDescription: *desc, Words: words, Device: session.ImportedKey{Device: info.URI, URI: k.URI(), Serial: info.Serial, Software: info.Software},
		Threshold: r.Threshold, SharesUsed: r.Used, Shares: infos, Out: o.Out, Rehearsal: s.Software()}
	if err := s.Record("key.imported", map[string]any{"key_id": r.KeyID, "uri": k.URI(), "device": info.URI, "serial": info.Serial,
		"software": info.Software, "signature_verified": true}); err != nil {
		return nil, err
	}
	if err := s.End(map[string]any{"key_id": r.KeyID, "key_wiped_from_memory": true}); err != nil {
		return nil, err
	}
	rep, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := fsutil.WriteTree(o.Out, map[string][]byte{bundle.TranscriptName: s.Transcript(), "restore.json": append(rep, '\n')}); err != nil {
		return nil, fmt.Errorf("the key %s is on %s, but the restore record could not be written: %w", r.KeyID, k.URI(), err)
	}
	s.Keep()
	return res, nil
}

// importJournalled imports the recovered key, announced in the journal
// first, or checks and reuses the copy an interrupted restore left when
// resuming.
func importJournalled(ctx context.Context, s *session.Session, b hsm.Backend, r *backup.Recovered, label string,
	reuse map[string]session.Leftover, spec hsm.KeySpec) (hsm.Key, error) {
	if l, ok := reuse[label]; ok {
		k, err := b.Open(ctx, l.URI)
		if err != nil {
			return nil, err
		}
		return k, session.CheckSigns(k, r.Key.Public())
	}
	if err := s.Creating(b, label, r.KeyID, "restored key"); err != nil {
		return nil, err
	}
	k, err := session.ImportVerified(ctx, b, r.Key, spec)
	if err != nil {
		s.NotCreated(ctx, b, label)
		return nil, err
	}
	return k, s.Created(b, label, k)
}
