package ceremony

import (
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age/plugin"

	"github.com/keyrite/keyrite/backup"
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
	Now        time.Time
	Args       []string
}

// ImportedKey is a device that holds the key.
type ImportedKey struct {
	Device   string `json:"device"`
	URI      string `json:"uri"`
	Serial   string `json:"serial,omitempty"`
	Software bool   `json:"software,omitempty"`
}

// BackedUpResult is what GenerateBackedUp reports.
type BackedUpResult struct {
	KeyDescription
	Words     string               `json:"key_id_words"`
	Out       string               `json:"backup"`
	Threshold int                  `json:"threshold"`
	Shares    []backup.RecordShare `json:"shares"`
	Check     *backup.CheckReport  `json:"backup_check"`
	Entropy   []string             `json:"entropy"`
	Imported  []ImportedKey        `json:"imported"`
	Rehearsal bool                 `json:"rehearsal"`
}

// ImportError is a failed import after the backup was written: some
// devices may hold the key, the backup holds it in any case.
type ImportError struct {
	Backup   string
	KeyID    string
	Holding  []ImportedKey // devices that hold the key now
	Failed   string        // the device whose import failed
	NotTried []string      // devices not reached
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

// TranscriptName is the transcript file of a backup or restore record.
const TranscriptName = "transcript.jsonl"

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
func GenerateBackedUp(ctx context.Context, env Env, o BackedUpOptions) (res *BackedUpResult, err error) {
	if err := checkBackedUp(o); err != nil {
		return nil, err
	}
	d := newDevices(env)
	defer d.close()

	// Every device is opened, logged in and checked for the label first:
	// a missing token or a wrong PIN stops the run before a key exists.
	var backends []hsm.Backend
	for _, uri := range o.Devices {
		b, err := d.backend(ctx, uri)
		if err != nil {
			return nil, wrapDevice(uri, err)
		}
		if err := labelFree(ctx, b, o.Label); err != nil {
			return nil, err
		}
		backends = append(backends, b)
	}
	var extra [][]byte
	entropy := []string{"os: crypto/rand (getrandom)"}
	for i, b := range backends {
		rs, ok := b.(hsm.RandomSource)
		if !ok {
			continue
		}
		r, err := rs.Random(ctx, 32)
		if err != nil {
			return nil, wrapDevice(o.Devices[i], err)
		}
		extra = append(extra, r)
		info := b.Info()
		entropy = append(entropy, fmt.Sprintf("device: %s %q (serial %s), 32 bytes from its RNG", info.Kind, info.Label, info.Serial))
	}
	if len(extra) == 0 {
		entropy = append(entropy, "no device offered a random number generator: the OS alone")
	}

	key, err := backup.NewKey(o.Algorithm, extra...)
	for _, e := range extra {
		hsm.Wipe(e)
	}
	if err != nil {
		return nil, err
	}
	defer backup.WipeKey(key)
	desc, err := describeKey("", key.Public(), o.Label, hsm.OriginImported, d.soft)
	if err != nil {
		return nil, err
	}
	words, _ := backup.Words(desc.CanonicalID)

	t, err := NewTranscript(nil, "key generate --mode backed-up", func() time.Time { return o.Now })
	if err != nil {
		return nil, err
	}
	var custodians []map[string]string
	for _, c := range o.Custodians {
		custodians = append(custodians, map[string]string{"name": c.Name, "kind": c.Kind, "recipient": c.Recipient})
	}
	if err := t.Append("ceremony.start", map[string]any{"args": o.Args, "devices": d.events, "rehearsal": d.soft,
		"label": o.Label, "custodians": custodians, "threshold": o.Threshold}); err != nil {
		return nil, err
	}
	if err := t.Append("key.generated", map[string]any{"key_id": desc.CanonicalID, "algorithm": desc.Algorithm,
		"public_key_pem": desc.PublicPEM, "mode": "backed-up", "where": "memory of this computer", "entropy": entropy}); err != nil {
		return nil, err
	}

	bk, err := backup.Create(backup.CreateOptions{Key: key, KeyID: desc.CanonicalID, Label: o.Label,
		Custodians: o.Custodians, Threshold: o.Threshold, Created: o.Now, Passphrase: o.Passphrase,
		WorkFactor: o.WorkFactor, PluginUI: o.PluginUI})
	if err != nil {
		return nil, err
	}
	defer bk.Wipe()
	if err := t.Append("backup.created", map[string]any{"shares": bk.Record.Shares, "threshold": o.Threshold,
		"backup_sha256": sha256hex(bk.Files[backup.RecordName])}); err != nil {
		return nil, err
	}
	files := map[string][]byte{TranscriptName: t.Bytes()}
	for n, b := range bk.Files {
		files[n] = b
	}
	if err := fsutil.WriteTreeMode(o.Out, files, 0o600, 0o700); err != nil {
		return nil, fmt.Errorf("writing the backup: %w (no device received the key)", err)
	}
	check, err := bk.Check(func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(o.Out, name)) })
	if err != nil {
		os.RemoveAll(o.Out)
		return nil, fmt.Errorf("the backup just written does not verify (removed; no device received the key): %w", err)
	}
	if err := t.Append("backup.verified", check); err != nil {
		return nil, err
	}

	res = &BackedUpResult{KeyDescription: *desc, Words: words, Out: o.Out, Threshold: o.Threshold,
		Shares: bk.Record.Shares, Check: check, Entropy: entropy, Rehearsal: d.soft}
	for i, b := range backends {
		k, err := importVerified(ctx, b, key, hsm.KeySpec{Label: o.Label, Algorithm: o.Algorithm, Slot: uriSlot(o.Devices[i])})
		if err != nil {
			ie := &ImportError{Backup: o.Out, KeyID: desc.CanonicalID, Holding: res.Imported, Failed: hsm.Redact(o.Devices[i]),
				NotTried: o.Devices[i+1:], Err: err}
			t.Append("key.import.failed", map[string]any{"device": hsm.Redact(o.Devices[i]), "error": err.Error(),
				"holding": res.Imported, "not_tried": o.Devices[i+1:]})
			if werr := fsutil.WriteFile(filepath.Join(o.Out, TranscriptName), t.Bytes(), 0o600, true); werr != nil {
				return nil, fmt.Errorf("%w (and the transcript could not be updated: %v)", ie, werr)
			}
			return nil, ie
		}
		info := b.Info()
		ik := ImportedKey{Device: info.URI, URI: k.URI(), Serial: info.Serial, Software: info.Software}
		res.Imported = append(res.Imported, ik)
		if err := t.Append("key.imported", map[string]any{"key_id": desc.CanonicalID, "uri": k.URI(), "device": info.URI,
			"serial": info.Serial, "software": info.Software, "signature_verified": true}); err != nil {
			return nil, err
		}
	}
	if len(res.Imported) > 0 {
		res.URI = res.Imported[0].URI
	}
	if err := t.Append("ceremony.end", map[string]any{"key_id": desc.CanonicalID, "devices": len(res.Imported),
		"key_wiped_from_memory": true}); err != nil {
		return nil, err
	}
	if err := fsutil.WriteFile(filepath.Join(o.Out, TranscriptName), t.Bytes(), 0o600, true); err != nil {
		return nil, fmt.Errorf("the key is on every device and the backup is verified, but the transcript could not be updated: %w", err)
	}
	return res, nil
}

// importVerified imports the key and checks that the device signs with
// it: the public key it reports and a signature verified in software.
func importVerified(ctx context.Context, b hsm.Backend, key crypto.Signer, spec hsm.KeySpec) (hsm.Key, error) {
	k, err := b.Import(ctx, key, spec)
	if err != nil {
		return nil, err
	}
	if !samePublic(k.Public(), key.Public()) {
		return nil, errors.New("the device reports a different public key for the imported key")
	}
	digest := sha256.Sum256([]byte("keyrite import check " + k.URI()))
	sig, err := k.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("test signature: %w", err)
	}
	if err := hsm.VerifyDigest(key.Public(), digest[:], sig); err != nil {
		return nil, fmt.Errorf("test signature: %w", err)
	}
	return k, nil
}

// labelFree refuses a label the device already has, before any key exists.
func labelFree(ctx context.Context, b hsm.Backend, label string) error {
	keys, err := b.List(ctx)
	if errors.Is(err, hsm.ErrNotFound) {
		return nil // a softkey file that does not exist yet
	}
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.Label == label {
			return fmt.Errorf("%s: a key labelled %q %w; choose another label (nothing was created)", b.Info().URI, label, hsm.ErrExists)
		}
	}
	return nil
}

func checkBackedUp(o BackedUpOptions) error {
	if len(o.Devices) == 0 {
		return errors.New("no device given: pass --device URI (repeat it for several devices)")
	}
	if o.Label == "" {
		return errors.New("a key label is required")
	}
	if _, err := hsm.Curve(o.Algorithm); err != nil {
		return err
	}
	if len(o.Custodians) == 0 {
		return errors.New("no custodian given: pass --custodian NAME=RECIPIENT for each")
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
		k, err := deviceKey(uri)
		if err != nil {
			return err
		}
		if devs[k] {
			return fmt.Errorf("device %s is given twice", hsm.Redact(uri))
		}
		devs[k] = true
	}
	if o.Out == "" {
		return errors.New("no backup directory given: pass -o DIR")
	}
	if _, err := os.Lstat(o.Out); err == nil {
		return fmt.Errorf("output %s already exists; keyrite never overwrites a backup: choose a new -o directory", o.Out)
	}
	return nil
}

// samePublic compares two public keys.
func samePublic(a, b crypto.PublicKey) bool {
	x, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && x.Equal(b)
}
