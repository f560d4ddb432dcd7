package ceremony

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age/plugin"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/fsutil"
)

// BackedUpOptions control GenerateBackedUp.
type BackedUpOptions struct {
	Devices    []string // device URIs; the same key goes to each
	Label      string
	Algorithm  string
	Custodians []backup.Custodian
	Threshold  int
	Out        string // backup directory to create
	// Passphrase returns a new passphrase for a passphrase custodian,
	// asked twice (terminal) or read from a file.
	Passphrase func(c backup.Custodian) ([]byte, error)
	PluginUI   *plugin.ClientUI
	WorkFactor int // scrypt work factor of passphrase shares; 0: age's default
}

// BackedUpResult is what GenerateBackedUp reports.
type BackedUpResult struct {
	session.KeyDescription
	Words     string                `json:"key_id_words"`
	Out       string                `json:"backup"`
	Threshold int                   `json:"threshold"`
	Shares    []backup.RecordShare  `json:"shares"`
	Check     *backup.CheckReport   `json:"backup_check"`
	Entropy   []string              `json:"entropy"`
	Imported  []session.ImportedKey `json:"imported"`
	Rehearsal bool                  `json:"rehearsal"`
}

// ImportError is a failed import after the backup was written: some
// devices may hold the key, the backup holds it in any case.
type ImportError struct {
	Backup   string
	KeyID    string
	Holding  []session.ImportedKey // devices that hold the key now
	Failed   string                // the device whose import failed
	NotTried []string              // devices not reached
	Err      error
}

func (e *ImportError) Error() string {
	var held []string
	for _, h := range e.Holding {
		held = append(held, h.URI)
	}
	heldText := "no device holds the key"
	if len(held) > 0 {
		heldText = "the key is on " + strings.Join(held, ", ")
	}
	msg := fmt.Sprintf("importing key %s into %s failed: %v; %s", e.KeyID, e.Failed, e.Err, heldText)
	missing := append([]string{e.Failed}, e.NotTried...)
	msg += fmt.Sprintf("; it is NOT on %s; the verified backup in %s holds it", strings.Join(missing, ", "), e.Backup)
	return msg
}

func (e *ImportError) Unwrap() error { return e.Err }

// GenerateBackedUp makes a root key in this computer's memory, from the
// OS RNG mixed with each device's RNG where it has one; splits it into
// one age-encrypted share per custodian and writes them to a new
// directory; reads every file back and proves it (recipient, decryption,
// recombination); and only then imports the key into every device,
// checking each one's signature. The key is wiped from memory at the end.
//
// Before the backup is written nothing exists anywhere. If an import
// fails, the backup stays and the error names the devices that hold the
// key and those that do not.
func GenerateBackedUp(ctx context.Context, env session.Env, o BackedUpOptions) (*BackedUpResult, error) {
	if err := checkBackedUp(o); err != nil {
		return nil, err
	}
	s := session.New(env, BackedUpCommand)
	defer s.Close()
	s.JournalFor("", o.Out)
	backends, err := openForImport(ctx, s, o)
	if err != nil {
		return nil, err
	}
	key, entropy, err := newMixedKey(ctx, o, backends)
	if err != nil {
		return nil, err
	}
	defer backup.WipeKey(key)
	desc, err := session.DescribeKey("", key.Public(), o.Label, hsm.OriginImported, s.Software())
	if err != nil {
		return nil, err
	}
	words, _ := backup.Words(desc.CanonicalID)

	var custodians []map[string]string
	for _, c := range o.Custodians {
		custodians = append(custodians, map[string]string{"name": c.Name, "kind": c.Kind, "recipient": c.Recipient})
	}
	if err := s.Begin(nil, map[string]any{"label": o.Label, "custodians": custodians, "threshold": o.Threshold}); err != nil {
		return nil, err
	}
	if err := s.Record("key.generated", map[string]any{"key_id": desc.CanonicalID, "algorithm": desc.Algorithm,
		"public_key_pem": desc.PublicPEM, "mode": "backed-up", "where": "memory of this computer", "entropy": entropy}); err != nil {
		return nil, err
	}
	bk, check, err := writeBackup(s, o, key, desc.CanonicalID)
	if err != nil {
		return nil, err
	}
	defer bk.Wipe()
	res := &BackedUpResult{KeyDescription: *desc, Words: words, Out: o.Out, Threshold: o.Threshold,
		Shares: bk.Record.Shares, Check: check, Entropy: entropy, Rehearsal: s.Software()}
	if err := importAll(ctx, s, o, backends, key, res); err != nil {
		return nil, err
	}
	if err := s.End(map[string]any{"key_id": desc.CanonicalID, "devices": len(res.Imported),
		"key_wiped_from_memory": true}); err != nil {
		return nil, err
	}
	if err := fsutil.WriteFile(filepath.Join(o.Out, bundle.TranscriptName), s.Transcript(), 0o600, true); err != nil {
		return nil, fmt.Errorf("the key is on every device and the backup is verified, but the transcript could not be updated: %w", err)
	}
	s.Keep()
	return res, nil
}

// BackedUpCommand is the command a backed-up generation's transcript
// records.
const BackedUpCommand = "key generate --mode backed-up"

// openForImport opens, logs in to and checks every device for the label
// first: a missing token or a wrong PIN stops the run before a key exists.
// What an interrupted run left on them is dealt with before.
func openForImport(ctx context.Context, s *session.Session, o BackedUpOptions) ([]hsm.Backend, error) {
	backends, err := s.Backends(ctx, o.Devices)
	if err != nil {
		return nil, err
	}
	if _, err := s.Leftovers(ctx, backends, nil); err != nil {
		return nil, err
	}
	// Before the key and its backup exist: a device that cannot hold it
	// stops the run with nothing made.
	if err := s.CheckCapacity(ctx, session.OneKeyEach(session.NeedImport, "the backed-up key "+o.Label, backends, o.Devices)...); err != nil {
		return nil, err
	}
	for _, b := range backends {
		if err := session.LabelFree(ctx, b, o.Label); err != nil {
			return nil, err
		}
	}
	return backends, nil
}

// newMixedKey makes the key from the OS RNG mixed with each device's RNG,
// and says which sources went in.
func newMixedKey(ctx context.Context, o BackedUpOptions, backends []hsm.Backend) (*ecdsa.PrivateKey, []string, error) {
	var extra [][]byte
	defer func() {
		for _, e := range extra {
			hsm.Wipe(e)
		}
	}()
	entropy := []string{"os: crypto/rand (getrandom)"}
	for i, b := range backends {
		rs, ok := b.(hsm.RandomSource)
		if !ok {
			continue
		}
		r, err := rs.Random(ctx, 32)
		if err != nil {
			return nil, nil, session.WrapDevice(o.Devices[i], err)
		}
		extra = append(extra, r)
		info := b.Info()
		entropy = append(entropy, fmt.Sprintf("device: %s %q (serial %s), 32 bytes from its RNG", info.Kind, info.Label, info.Serial))
	}
	if len(extra) == 0 {
		entropy = append(entropy, "no device offered a random number generator: the OS alone")
	}
	key, err := backup.NewKey(o.Algorithm, extra...)
	return key, entropy, err
}

// writeBackup splits the key into shares, writes the backup directory
// whole with the transcript so far, and proves every file by reading it
// back. A backup that does not verify is removed.
func writeBackup(s *session.Session, o BackedUpOptions, key *ecdsa.PrivateKey, keyID string) (*backup.Backup, *backup.CheckReport, error) {
	bk, err := backup.Create(backup.CreateOptions{Key: key, KeyID: keyID, Label: o.Label,
		Custodians: o.Custodians, Threshold: o.Threshold, Created: s.Now(), Passphrase: o.Passphrase,
		WorkFactor: o.WorkFactor, PluginUI: o.PluginUI})
	if err != nil {
		return nil, nil, err
	}
	if err := s.Record("backup.created", map[string]any{"shares": bk.Record.Shares, "threshold": o.Threshold,
		"backup_sha256": bundle.SHA256Hex(bk.Files[backup.RecordName])}); err != nil {
		bk.Wipe()
		return nil, nil, err
	}
	files := map[string][]byte{bundle.TranscriptName: s.Transcript()}
	for n, b := range bk.Files {
		files[n] = b
	}
	if err := fsutil.WriteTreeMode(o.Out, files, 0o600, 0o700); err != nil {
		bk.Wipe()
		return nil, nil, fmt.Errorf("writing the backup: %w (no device received the key)", err)
	}
	check, err := bk.Check(func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(o.Out, name)) })
	if err != nil {
		bk.Wipe()
		os.RemoveAll(o.Out)
		return nil, nil, fmt.Errorf("the backup just written does not verify (removed; no device received the key): %w", err)
	}
	if err := s.Record("backup.verified", check); err != nil {
		bk.Wipe()
		return nil, nil, err
	}
	// On disk before any device receives the key: a run killed during the
	// imports leaves a backup that says it was verified, and a rerun with
	// the same directory finishes from it.
	if err := fsutil.WriteFile(filepath.Join(o.Out, bundle.TranscriptName), s.Transcript(), 0o600, true); err != nil {
		bk.Wipe()
		return nil, nil, fmt.Errorf("the backup is written and verified, but its transcript could not be updated (no device received the key): %w", err)
	}
	return bk, check, nil
}

// importAll imports the key into every device, checking each one's
// signature. On a failure the transcript in the backup records which
// devices hold the key, and the error says so.
func importAll(ctx context.Context, s *session.Session, o BackedUpOptions, backends []hsm.Backend, key crypto.Signer, res *BackedUpResult) error {
	for i, b := range backends {
		if err := s.Creating(b, o.Label, res.CanonicalID, "backed-up key (backup "+o.Out+")"); err != nil {
			return err
		}
		k, err := session.ImportVerified(ctx, b, key, hsm.KeySpec{Label: o.Label, Algorithm: o.Algorithm, Slot: session.URISlot(o.Devices[i])})
		if err != nil {
			s.NotCreated(ctx, b, o.Label)
			ie := &ImportError{Backup: o.Out, KeyID: res.CanonicalID, Holding: res.Imported, Failed: hsm.Redact(o.Devices[i]),
				NotTried: o.Devices[i+1:], Err: err}
			s.Record("key.import.failed", map[string]any{"device": hsm.Redact(o.Devices[i]), "error": err.Error(),
				"holding": res.Imported, "not_tried": o.Devices[i+1:]})
			if werr := fsutil.WriteFile(filepath.Join(o.Out, bundle.TranscriptName), s.Transcript(), 0o600, true); werr != nil {
				return fmt.Errorf("%w (and the transcript could not be updated: %v)", ie, werr)
			}
			return ie
		}
		if err := s.Created(b, o.Label, k); err != nil {
			return err
		}
		info := b.Info()
		ik := session.ImportedKey{Device: info.URI, URI: k.URI(), Serial: info.Serial, Software: info.Software}
		res.Imported = append(res.Imported, ik)
		if err := s.Record("key.imported", map[string]any{"key_id": res.CanonicalID, "uri": k.URI(), "device": info.URI,
			"serial": info.Serial, "software": info.Software, "signature_verified": true}); err != nil {
			return err
		}
	}
	if len(res.Imported) > 0 {
		res.URI = res.Imported[0].URI
	}
	return nil
}

func checkBackedUp(o BackedUpOptions) error {
	if len(o.Devices) == 0 {
		return &session.MissingInputError{What: "device"}
	}
	if o.Label == "" {
		return errors.New("a key label is required")
	}
	if _, err := hsm.Curve(o.Algorithm); err != nil {
		return err
	}
	if len(o.Custodians) == 0 {
		return &session.MissingInputError{What: "custodian"}
	}
	if o.Threshold < 1 || o.Threshold > len(o.Custodians) {
		return fmt.Errorf("threshold %d with %d custodians: it must be between 1 and %d", o.Threshold, len(o.Custodians), len(o.Custodians))
	}
	seen := map[string]bool{}
	for _, c := range o.Custodians {
		if seen[c.Name] {
			return fmt.Errorf("custodian %s is given twice", c.Name)
		}
		seen[c.Name] = true
		if err := c.CheckPlugin(); err != nil {
			return err
		}
	}
	devs := map[string]bool{}
	for _, uri := range o.Devices {
		k, err := session.DeviceKey(uri)
		if err != nil {
			return err
		}
		if devs[k] {
			return fmt.Errorf("device %s is given twice", hsm.Redact(uri))
		}
		devs[k] = true
	}
	if o.Out == "" {
		return &session.MissingInputError{What: "backup directory"}
	}
	return fsutil.RefuseExisting(o.Out, "backup")
}
