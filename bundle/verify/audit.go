package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/internal/sshsig"
	"github.com/keyrite/keyrite/trust"
)

// AuditOptions control Audit.
type AuditOptions struct {
	Options
	// Allowed is the auditor's allowed signers file: every witness must be
	// allowed by it. nil: witnesses are checked against the transcript's
	// own declaration only.
	Allowed sshsig.AllowedSigners
	// Plan is the ceremony plan the auditor holds: its SHA-256 must be
	// the plan_sha256 the transcript recorded. nil: not checked.
	Plan []byte
}

// Audit is what an auditor who was not there learns from a signed bundle
// or a key record, all of it verified: the ceremonies and their steps,
// the seal, the witnesses, the plan, and what binds every file.
type Audit struct {
	Bundle         string              `json:"bundle"`
	Kind           string              `json:"kind"` // signed or key-record
	Server         string              `json:"server,omitempty"`
	Rehearsal      bool                `json:"rehearsal"`
	TranscriptHead string              `json:"transcript_head"`
	Lines          int                 `json:"transcript_lines"`
	Ceremonies     []Ceremony          `json:"ceremonies"`
	Seal           *SealReport         `json:"seal"`
	Witnesses      []WitnessReport     `json:"witnesses"`
	AllowedSigners bool                `json:"allowed_signers_checked"`
	Plan           *PlanCheck          `json:"plan,omitempty"`
	Files          []BoundFile         `json:"files"`
	Repos          []*trust.RepoReport `json:"repos,omitempty"`
	Key            *bundle.KeyRecord   `json:"key,omitempty"`
	Attestations   []AttestationReport `json:"attestations,omitempty"`
	Missing        []string            `json:"missing,omitempty"` // threshold signatures still to come
	OK             bool                `json:"ok"`
}

// Ceremony is one ceremony of a transcript, from its ceremony.start line
// to its ceremony.end.
type Ceremony struct {
	Line       int                `json:"line"` // its ceremony.start
	EndLine    int                `json:"end_line,omitempty"`
	Command    string             `json:"command"`
	Args       []string           `json:"args"`
	Started    time.Time          `json:"started"`
	Ended      time.Time          `json:"ended,omitzero"`
	DurationUS int64              `json:"duration_us"` // monotonic
	Keyrite    *bundle.BuildFacts `json:"keyrite,omitempty"`
	Host       *bundle.Host       `json:"host,omitempty"`
	Devices    []bundle.Device    `json:"devices"`
	Rehearsal  bool               `json:"rehearsal"`
	PlanSHA256 string             `json:"plan_sha256,omitempty"`
	SealKeys   []string           `json:"seal_keys,omitempty"`
	Outcome    string             `json:"outcome"`
	Steps      []Step             `json:"steps"`
}

// Step is one transcript line.
type Step struct {
	Line    int       `json:"line"`
	Time    time.Time `json:"time"`
	MonoUS  int64     `json:"mono_us"`
	Event   string    `json:"event"`
	Summary string    `json:"summary"`
}

// PlanCheck compares the plan an auditor holds with the one recorded.
type PlanCheck struct {
	SHA256 string `json:"sha256"`
	Line   int    `json:"line"` // the ceremony.start that recorded it
}

// BoundFile is one file and what binds it.
type BoundFile struct {
	Path    string   `json:"path"`
	SHA256  string   `json:"sha256"`
	BoundBy []string `json:"bound_by"`
}

// AuditError is a plan or an allowed signers file that does not match.
type AuditError struct{ Bundle, Reason string }

func (e *AuditError) Error() string { return fmt.Sprintf("bundle %s: %s", e.Bundle, e.Reason) }

// AuditDir verifies a signed bundle (as verify does) or a key record and
// reports what it records. A signed bundle still waiting for threshold
// signatures is reported, with an *IncompleteError.
func AuditDir(dir string, now time.Time, o AuditOptions) (*Audit, error) {
	kind, err := bundle.KindOf(dir)
	if err != nil {
		return nil, err
	}
	a := &Audit{Bundle: dir, Kind: kind}
	var files bundle.Files
	var entries []bundle.TranscriptEntry
	var incomplete error
	switch kind {
	case bundle.KindSigned:
		s, err := bundle.ReadSigned(dir)
		if err != nil {
			return nil, err
		}
		rep, err := Signed(s, now, o.Options)
		var inc *IncompleteError
		if errors.As(err, &inc) {
			incomplete, a.Missing = err, inc.Missing
		} else if err != nil {
			return nil, err
		}
		files = s.Files
		entries, _ = bundle.VerifyTranscript(files[bundle.TranscriptName])
		a.Server, a.Rehearsal, a.Seal, a.Witnesses = s.Info.Server, s.Info.Rehearsal, rep.Seal, rep.Witnesses
		a.Repos, a.Attestations = rep.Repos, rep.Attestations
	case bundle.KindKeyRecord:
		rep, err := RecordDir(dir, o.Options)
		if err != nil {
			return nil, err
		}
		files, entries = rep.files, rep.entries
		a.Rehearsal, a.Seal, a.Witnesses, a.Key = rep.Key.Rehearsal, rep.Seal, rep.Witnesses, &rep.Key
		if rep.Attestation != nil {
			a.Attestations = []AttestationReport{*rep.Attestation}
		}
	case bundle.KindCA:
		rep, err := CADir(dir, now, o.Options)
		if err != nil {
			return nil, err
		}
		files, entries = rep.files, rep.entries
		a.Rehearsal, a.Seal, a.Witnesses = rep.Record.Rehearsal, rep.Seal, rep.Witnesses
		if rep.Attestation != nil {
			a.Attestations = []AttestationReport{*rep.Attestation}
		}
	default:
		return nil, &bundle.Error{Bundle: dir, Reason: fmt.Sprintf("a %s bundle has no transcript to audit (a signed bundle or a key record has)", kind)}
	}
	a.TranscriptHead, a.Lines = bundle.TranscriptHead(files[bundle.TranscriptName]), len(entries)
	a.Ceremonies = ceremonies(entries)
	a.Files = boundFiles(files, entries)
	if o.Allowed != nil {
		if err := CheckAllowed(dir, a.Witnesses, o.Allowed, now); err != nil {
			return a, err
		}
		a.AllowedSigners = true
	}
	if o.Plan != nil {
		pc, err := checkPlan(dir, o.Plan, a.Ceremonies)
		if err != nil {
			return a, err
		}
		a.Plan = pc
	}
	if incomplete != nil {
		return a, incomplete
	}
	a.OK = true
	return a, nil
}

// checkPlan compares the SHA-256 of the plan given with the plan_sha256
// the transcript's last ceremony that ran a plan recorded.
func checkPlan(dir string, plan []byte, cs []Ceremony) (*PlanCheck, error) {
	sum := sha256.Sum256(plan)
	got := hex.EncodeToString(sum[:])
	for i := len(cs) - 1; i >= 0; i-- {
		if cs[i].PlanSHA256 == "" {
			continue
		}
		if cs[i].PlanSHA256 != got {
			return nil, &AuditError{Bundle: dir, Reason: fmt.Sprintf("the plan given has SHA-256 %s, but transcript line %d records plan %s: not the plan that ran", got, cs[i].Line, cs[i].PlanSHA256)}
		}
		return &PlanCheck{SHA256: got, Line: cs[i].Line}, nil
	}
	return nil, &AuditError{Bundle: dir, Reason: "a plan was given, but no ceremony of the transcript records one (plan_sha256)"}
}

// ceremonies splits a transcript into its ceremonies.
func ceremonies(entries []bundle.TranscriptEntry) []Ceremony {
	var out []Ceremony
	for _, e := range entries {
		if e.Event == "ceremony.start" {
			var ev struct {
				Args      []string           `json:"args"`
				Devices   []bundle.Device    `json:"devices"`
				Rehearsal bool               `json:"rehearsal"`
				Keyrite   *bundle.BuildFacts `json:"keyrite"`
				Host      *bundle.Host       `json:"host"`
				Plan      string             `json:"plan_sha256"`
			}
			json.Unmarshal(e.Data, &ev)
			out = append(out, Ceremony{Line: e.Seq, Command: e.Command, Args: ev.Args, Started: e.Time, Keyrite: ev.Keyrite,
				Host: ev.Host, Devices: ev.Devices, Rehearsal: ev.Rehearsal, PlanSHA256: ev.Plan, Outcome: "did not end (interrupted, or cut short)"})
		}
		if len(out) == 0 {
			continue
		}
		c := &out[len(out)-1]
		c.Steps = append(c.Steps, Step{Line: e.Seq, Time: e.Time, MonoUS: e.MonoUS, Event: e.Event, Summary: Summarize(e)})
		c.DurationUS = e.MonoUS
		if e.Event == "ceremony.end" {
			var ev struct {
				Keys []struct {
					KeyID string `json:"key_id"`
				} `json:"seal_keys"`
				Rehearsal bool `json:"rehearsal"`
			}
			json.Unmarshal(e.Data, &ev)
			c.EndLine, c.Ended = e.Seq, e.Time
			c.Rehearsal = c.Rehearsal || ev.Rehearsal
			for _, k := range ev.Keys {
				c.SealKeys = append(c.SealKeys, k.KeyID)
			}
			c.Outcome = "completed"
			if len(c.SealKeys) > 0 {
				c.Outcome = fmt.Sprintf("completed, sealed by %d key(s)", len(c.SealKeys))
			}
		}
	}
	return out
}

// summaryFields are the fields a step's summary shows, in order.
var summaryFields = []string{"gun", "guns", "key_id", "root_key_ids", "new_root_key_ids", "targets_key_id", "signer", "serial", "slot",
	"label", "mode", "origin", "how", "root_version", "threshold", "root_sha256", "targets_sha256", "snapshot_sha256",
	"attestation_sha256", "request_manifest_sha256", "plan_sha256", "signatures", "repos", "server"}

// Summarize is a one-line account of a transcript line: its most telling
// fields, hashes shortened.
func Summarize(e bundle.TranscriptEntry) string {
	var m map[string]any
	if json.Unmarshal(e.Data, &m) != nil {
		return ""
	}
	var parts []string
	for _, k := range summaryFields {
		v, ok := m[k]
		if !ok || v == nil || v == "" {
			continue
		}
		parts = append(parts, k+"="+short(v))
	}
	if e.Event == "ceremony.end" {
		if keys, ok := m["seal_keys"].([]any); ok {
			parts = append(parts, fmt.Sprintf("seal_keys=%d", len(keys)))
		}
	}
	return strings.Join(parts, " ")
}

func short(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) == 64 && isHex(x) {
			return x[:16]
		}
		return x
	case []any:
		var s []string
		for _, e := range x {
			s = append(s, short(e))
		}
		return strings.Join(s, ",")
	case float64:
		return fmt.Sprint(x)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// boundFiles says, for every file, what binds it: the seal (each sealed
// file's SHA-256), the transcript lines that record its hash, or, for a
// witness signature, its own signature over the transcript head.
func boundFiles(files bundle.Files, entries []bundle.TranscriptEntry) []BoundFile {
	recorded := map[string][]string{} // sha256 -> lines
	for _, e := range entries {
		var m map[string]any
		if json.Unmarshal(e.Data, &m) != nil {
			continue
		}
		for k, v := range m {
			if s, ok := v.(string); ok && strings.HasSuffix(k, "sha256") && len(s) == 64 {
				recorded[s] = append(recorded[s], fmt.Sprintf("transcript line %d (%s)", e.Seq, e.Event))
			}
		}
	}
	var out []BoundFile
	for p, b := range files {
		if p == bundle.ManifestName {
			continue
		}
		f := BoundFile{Path: p, SHA256: bundle.SHA256Hex(b)}
		switch {
		case bundle.Sealed(p):
			f.BoundBy = append(f.BoundBy, "seal")
		case p == bundle.SealName:
			f.BoundBy = append(f.BoundBy, "its own signatures")
		default:
			f.BoundBy = append(f.BoundBy, "its own signature over the transcript head")
		}
		if p == bundle.TranscriptName {
			f.BoundBy = append(f.BoundBy, "hash chain")
		}
		f.BoundBy = append(f.BoundBy, recorded[f.SHA256]...)
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
