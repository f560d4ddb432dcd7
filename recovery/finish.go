package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/fsutil"
)

// Generation is how far a backed-up generation got, as the transcript in
// its backup directory records it.
type Generation struct {
	Backup    string
	Command   string
	KeyID     string
	Label     string
	Algorithm string
	Threshold int
	Shares    []string // the share files, in the backup directory
	Verified  bool     // backup.verified: every file was read back and recombined
	Finished  bool     // ceremony.end: every device received the key
	// transcript is the transcript as read, which a finishing run extends.
	transcript []byte
}

// ReadGeneration reads the backup directory of a backed-up generation: its
// transcript (chain checked) and backup.json, which must be the file the
// transcript recorded.
func ReadGeneration(dir string) (*Generation, error) {
	tb, err := os.ReadFile(filepath.Join(dir, bundle.TranscriptName))
	if err != nil {
		return nil, err
	}
	entries, err := bundle.VerifyTranscript(tb)
	if err != nil {
		return nil, err
	}
	g := &Generation{Backup: dir, transcript: tb}
	var recordSHA string
	for _, e := range entries {
		var d struct {
			Label        string `json:"label"`
			KeyID        string `json:"key_id"`
			Algorithm    string `json:"algorithm"`
			BackupSHA256 string `json:"backup_sha256"`
		}
		json.Unmarshal(e.Data, &d)
		switch e.Event {
		case "ceremony.start":
			if g.Command == "" {
				g.Command, g.Label = e.Command, d.Label
			}
		case "key.generated":
			g.KeyID, g.Algorithm = d.KeyID, d.Algorithm
		case "backup.created":
			recordSHA = d.BackupSHA256
		case "backup.verified":
			g.Verified = true
		case "ceremony.end":
			g.Finished = true
		}
	}
	if g.KeyID == "" || recordSHA == "" {
		return nil, &NotAGenerationError{Dir: dir}
	}
	rb, err := os.ReadFile(filepath.Join(dir, backup.RecordName))
	if err != nil {
		return nil, err
	}
	if bundle.SHA256Hex(rb) != recordSHA {
		return nil, &KeyMismatchError{Reason: fmt.Sprintf("%s is not the %s its transcript recorded", filepath.Join(dir, backup.RecordName), backup.RecordName)}
	}
	var rec backup.Record
	if err := json.Unmarshal(rb, &rec); err != nil || rec.KeyID != g.KeyID || rec.Label != g.Label {
		return nil, &KeyMismatchError{Reason: fmt.Sprintf("%s does not describe the key its transcript recorded", filepath.Join(dir, backup.RecordName))}
	}
	g.Threshold = rec.Threshold
	for _, s := range rec.Shares {
		g.Shares = append(g.Shares, filepath.Join(dir, s.File))
	}
	return g, nil
}

// NotAGenerationError is a directory without the record of a backed-up
// generation.
type NotAGenerationError struct{ Dir string }

func (e *NotAGenerationError) Error() string {
	return fmt.Sprintf("%s does not hold the transcript of a backed-up generation", e.Dir)
}

// InterruptedGenerationError is a backed-up generation that stopped before
// every device had the key, finished as far as it can be without the
// custodians' shares: the devices in Missing still lack the key.
type InterruptedGenerationError struct {
	Generation
	Holding []string // devices that hold the key
	Missing []string // devices that do not
}

func (e *InterruptedGenerationError) Error() string {
	state := "its backup was written but its verification was interrupted"
	if e.Verified {
		state = "its backup was written and verified"
	}
	held := "no device holds the key"
	if len(e.Holding) > 0 {
		held = "the key is on " + strings.Join(e.Holding, ", ")
	}
	return fmt.Sprintf("%s is an interrupted backed-up generation of key %s (%q): %s, but it stopped before every device received the key; %s; it is NOT on %s",
		e.Backup, e.KeyID, e.Label, state, held, strings.Join(e.Missing, ", "))
}

// FinishOptions control FinishGeneration.
type FinishOptions struct {
	Backup  string   // the interrupted generation's backup directory
	Devices []string // every device the key goes to
	// Shares open the backup: needed only when a device lacks the key.
	Shares *ShareInputs
}

// FinishResult is what FinishGeneration reports.
type FinishResult struct {
	Backup    string                `json:"backup"`
	KeyID     string                `json:"key_id"`
	Label     string                `json:"label"`
	Holding   []session.ImportedKey `json:"already_holding"`
	Imported  []session.ImportedKey `json:"imported"`
	Shares    []ShareInfo           `json:"shares,omitempty"`
	Rehearsal bool                  `json:"rehearsal"`
}

// FinishGeneration finishes a backed-up generation that was interrupted
// after its backup was written (a kill, a power cut): it finds which of
// the devices already hold the key, imports it from the custodians' shares
// into the others (each device's signature checked), and ends the backup's
// transcript. Without shares, and a device lacking the key, it says which
// (InterruptedGenerationError) and changes nothing.
func FinishGeneration(ctx context.Context, env session.Env, o FinishOptions) (*FinishResult, error) {
	g, err := ReadGeneration(o.Backup)
	if err != nil {
		return nil, err
	}
	if g.Finished {
		return nil, &fsutil.ExistsError{Path: o.Backup, What: "backup"}
	}
	if len(o.Devices) == 0 {
		return nil, &session.MissingInputError{What: "device"}
	}
	s := session.New(env, g.Command)
	defer s.Close()
	s.JournalFor("", o.Backup)
	backends, err := s.Backends(ctx, o.Devices)
	if err != nil {
		return nil, err
	}
	// Copies of the key the killed run imported are let go of without a
	// question (the backup holds the key); what else it left is asked about.
	if _, err := s.Leftovers(ctx, backends, nil); err != nil {
		return nil, err
	}
	res := &FinishResult{Backup: o.Backup, KeyID: g.KeyID, Label: g.Label, Rehearsal: s.Software()}
	var missing []hsm.Backend
	var missingURIs []string // as given, redacted
	for i, b := range backends {
		held, err := holds(ctx, b, g)
		if err != nil {
			return nil, session.WrapDevice(o.Devices[i], err)
		}
		info := b.Info()
		if held != nil {
			// The killed run may have stopped before the device's test
			// signature: make one now.
			k, err := b.Open(ctx, held.URI)
			if err == nil {
				err = session.CheckSigns(k, held.Public)
			}
			if err != nil {
				return nil, session.WrapDevice(held.URI, fmt.Errorf("the backed-up key on the device: %w", err))
			}
			res.Holding = append(res.Holding, session.ImportedKey{Device: info.URI, URI: held.URI, Serial: info.Serial, Software: info.Software})
			continue
		}
		missing = append(missing, b)
		missingURIs = append(missingURIs, hsm.Redact(o.Devices[i]))
	}
	if len(missing) > 0 && o.Shares == nil {
		ie := &InterruptedGenerationError{Generation: *g, Missing: missingURIs}
		for _, h := range res.Holding {
			ie.Holding = append(ie.Holding, h.URI)
		}
		return nil, ie
	}
	if err := s.CheckCapacity(ctx, session.OneKeyEach(session.NeedImport, "the backed-up key "+g.Label, missing, missingURIs)...); err != nil {
		return nil, err
	}
	if err := s.Begin(g.transcript, map[string]any{"finishing": o.Backup, "key_id": g.KeyID}); err != nil {
		return nil, err
	}
	for _, h := range res.Holding {
		if err := s.Record("key.found", map[string]any{"key_id": g.KeyID, "uri": h.URI, "device": h.Device, "serial": h.Serial,
			"signature_verified": true}); err != nil {
			return nil, err
		}
	}
	if len(missing) > 0 {
		if err := importFromShares(ctx, s, g, *o.Shares, missing, missingURIs, res); err != nil {
			return nil, err
		}
	}
	res.Rehearsal = s.Software()
	if err := s.End(map[string]any{"key_id": g.KeyID, "devices": len(res.Holding) + len(res.Imported), "key_wiped_from_memory": true}); err != nil {
		return nil, err
	}
	if err := writeTranscript(s, o.Backup); err != nil {
		return nil, fmt.Errorf("the key is on every device, but the backup's transcript could not be updated: %w", err)
	}
	s.Keep()
	return res, nil
}

// holds finds the key of the generation on a device: the label with the
// key's ID. Another key under the label is refused.
func holds(ctx context.Context, b hsm.Backend, g *Generation) (*hsm.KeyInfo, error) {
	keys, err := b.List(ctx)
	if errors.Is(err, hsm.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.Label != g.Label {
			continue
		}
		d, err := session.DescribeKey(k.URI, k.Public, k.Label, k.Origin, false)
		if err != nil || d.CanonicalID != g.KeyID {
			return nil, fmt.Errorf("%s: a key labelled %q %w, and it is not the backed-up key %s", b.Info().URI, g.Label, hsm.ErrExists, g.KeyID)
		}
		return &k, nil
	}
	return nil, nil
}

// importFromShares recombines the key from the shares (it must be the
// generation's key) and imports it into the devices that lack it.
func importFromShares(ctx context.Context, s *session.Session, g *Generation, in ShareInputs, missing []hsm.Backend, uris []string, res *FinishResult) error {
	r, infos, err := recoverShares(in)
	if err != nil {
		return err
	}
	defer r.Wipe()
	if r.KeyID != g.KeyID {
		return &KeyMismatchError{Reason: fmt.Sprintf("the shares restore key %s, but %s holds key %s", r.KeyID, g.Backup, g.KeyID)}
	}
	res.Shares = infos
	if err := s.Record("backup.restored", map[string]any{"key_id": r.KeyID, "threshold": r.Threshold, "shares": infos,
		"shares_used": r.Used, "where": "memory of this computer"}); err != nil {
		return err
	}
	for i, b := range missing {
		k, err := importJournalled(ctx, s, b, r, g.Label, nil, hsm.KeySpec{Label: g.Label, Algorithm: g.Algorithm, Slot: session.URISlot(uris[i])})
		info := b.Info()
		if err != nil {
			s.Record("key.import.failed", map[string]any{"device": info.URI, "error": err.Error()})
			if werr := writeTranscript(s, g.Backup); werr != nil {
				err = fmt.Errorf("%w (and the backup's transcript could not be updated: %v)", err, werr)
			}
			return session.WrapDevice(info.URI, fmt.Errorf("importing the backed-up key: %w", err))
		}
		ik := session.ImportedKey{Device: info.URI, URI: k.URI(), Serial: info.Serial, Software: info.Software}
		res.Imported = append(res.Imported, ik)
		if err := s.Record("key.imported", map[string]any{"key_id": r.KeyID, "uri": k.URI(), "device": info.URI,
			"serial": info.Serial, "software": info.Software, "signature_verified": true}); err != nil {
			return err
		}
	}
	return nil
}

func writeTranscript(s *session.Session, dir string) error {
	return fsutil.WriteFile(filepath.Join(dir, bundle.TranscriptName), s.Transcript(), 0o600, true)
}
