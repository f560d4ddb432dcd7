// Package run performs a ceremony plan (ceremony/plan): its steps in
// order, in one process with one PIN entry per device, each step calling
// the library operation (ceremony, recovery) with its outputs under
// OUT/NN-action/. Before every irreversible step it shows exactly what
// will change and needs a typed confirmation. A run-level record,
// OUT/run.jsonl (hash-chained like a transcript), holds the plan's
// SHA-256, each step's status and the SHA-256 of each of its outputs; a
// failed or refused step leaves the earlier steps' outputs intact and
// recorded, and a resumed run verifies the completed steps and goes on
// from the first step not done. The rehearsal (Rehearse) runs the same
// plan on software tokens with generated identities.
package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"filippo.io/age/plugin"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony/plan"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/recovery"
)

// RecordName is the run-level record in the output directory.
const RecordName = "run.jsonl"

// PlanCopyName is the copy of the plan the run keeps beside its outputs.
const PlanCopyName = "plan.yaml"

// Resolver turns the plan's device names and key references into URIs: the
// plan's own devices for a ceremony, software tokens for a rehearsal.
type Resolver interface {
	DeviceURI(name string) (string, error)
	KeyURI(ref string) (string, error)
}

// Options control Run.
type Options struct {
	Plan    *plan.Plan
	Request string // request bundle (keyrite fetch); "" when no step signs repositories
	Out     string // output directory: created by a new run, continued by Resume
	Resume  bool
	// Yes answers every confirmation: rehearsals only.
	Yes       bool
	Rehearsal bool
	Devices   Resolver // nil: the plan's own
	// Custodians replaces the plan's custodians' recipients (rehearsal:
	// generated identities); nil: the plan's.
	Custodians map[string]string
	// Identities open an earlier step's backup for restore (rehearsal:
	// the generated custodians'); a ceremony asks for them (ShareInputs).
	Identities []string
	// NewPassphrase asks a passphrase custodian's new passphrase.
	NewPassphrase func(c backup.Custodian) ([]byte, error)
	PluginUI      *plugin.ClientUI
	// ShareInputs completes restore's inputs with the ways to ask for
	// passphrases.
	ShareInputs func(in recovery.ShareInputs) recovery.ShareInputs
	// NewPIN and NewPUK ask a provisioned YubiKey's new secrets.
	NewPIN, NewPUK func(device string) ([]byte, error)
	// Say tells the operator what happens (previews, progress); nil:
	// silent.
	Say func(text string)
	// Simulate, in a rehearsal, stands in for the server between steps:
	// the request bundle a step reads; nil: Request.
	Simulate *Server

	outReady bool // Rehearse made Out already
}

// StepResult is what one step did.
type StepResult struct {
	Step    int               `json:"step"`
	Kind    string            `json:"kind"`
	Dir     string            `json:"dir"`
	Status  string            `json:"status"` // done, verified (done by an earlier run), failed, skipped
	Note    string            `json:"note,omitempty"`
	Outputs map[string]string `json:"outputs,omitempty"` // path under Dir -> SHA-256
	Result  any               `json:"result,omitempty"`
}

// Result is what Run reports.
type Result struct {
	Ceremony   string       `json:"ceremony"`
	PlanSHA256 string       `json:"plan_sha256"`
	PlanWords  string       `json:"plan_words"`
	Out        string       `json:"out"`
	Rehearsal  bool         `json:"rehearsal"`
	Resumed    bool         `json:"resumed"`
	Steps      []StepResult `json:"steps"`
}

// StepError is a step that failed or was refused: the steps before it are
// done and recorded; resume goes on from it.
type StepError struct {
	Step int
	Kind string
	Err  error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("step %d (%s): %v", e.Step, e.Kind, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// ResumeError is a run that cannot be resumed as it is.
type ResumeError struct{ Out, Reason string }

func (e *ResumeError) Error() string {
	return fmt.Sprintf("cannot resume the run in %s: %s", e.Out, e.Reason)
}

// runner is one run of a plan.
type runner struct {
	o      Options
	env    session.Env
	p      *plan.Plan
	devs   Resolver
	record *bundle.Transcript
	res    *Result
	done   map[int]StepResult // steps done, by number
}

// StepDir is the output directory of step i: OUT/NN-action.
func StepDir(out string, i int, kind string) string {
	return filepath.Join(out, fmt.Sprintf("%02d-%s", i, strings.ReplaceAll(kind, "_", "-")))
}

// Run performs the plan's steps (see the package comment). env is the
// environment every step shares: one registry and PIN source for the
// whole run.
func Run(ctx context.Context, env session.Env, o Options) (*Result, error) {
	p := o.Plan
	r := &runner{o: o, env: env, p: p, devs: o.Devices, done: map[int]StepResult{},
		res: &Result{Ceremony: p.Ceremony, PlanSHA256: p.SHA256, PlanWords: p.Words(), Out: o.Out, Rehearsal: o.Rehearsal, Resumed: o.Resume}}
	if r.devs == nil {
		r.devs = p
	}
	if o.Yes && !o.Rehearsal {
		return nil, errors.New("confirmations are answered in advance only in a rehearsal")
	}
	if err := r.open(); err != nil {
		return nil, err
	}
	for i := 1; i <= len(p.Steps); i++ {
		if d, ok := r.done[i]; ok {
			r.res.Steps = append(r.res.Steps, d)
			continue
		}
		sr, err := r.step(ctx, i)
		if err != nil {
			kind := p.Steps[i-1].Kind()
			r.append("step.failed", map[string]any{"step": i, "kind": kind, "error": err.Error(), "outputs_left": sr.Outputs})
			r.res.Steps = append(r.res.Steps, StepResult{Step: i, Kind: kind, Dir: sr.Dir, Status: "failed", Outputs: sr.Outputs})
			if werr := r.save(); werr != nil {
				return r.res, fmt.Errorf("%w (and %s could not be written: %v)", &StepError{Step: i, Kind: kind, Err: err}, RecordName, werr)
			}
			return r.res, &StepError{Step: i, Kind: kind, Err: err}
		}
		r.res.Steps = append(r.res.Steps, *sr)
	}
	r.append("run.done", map[string]any{"plan_sha256": p.SHA256, "steps": len(p.Steps)})
	return r.res, r.save()
}

// open starts the record of a new run, or reads and checks the record of
// the run being resumed and verifies every step it says is done.
func (r *runner) open() error {
	o, p := r.o, r.p
	now := r.env.Now
	if !o.Resume {
		if !o.outReady {
			if err := fsutil.RefuseExisting(o.Out, "run"); err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Clean(o.Out)), 0o755); err != nil {
				return err
			}
			if err := os.Mkdir(o.Out, 0o700); err != nil {
				return err
			}
		}
		raw, err := os.ReadFile(p.File)
		if err != nil {
			return err
		}
		if bundle.SHA256Hex(raw) != p.SHA256 {
			return fmt.Errorf("the plan %s changed while it was read", p.File)
		}
		if err := fsutil.WriteFile(filepath.Join(o.Out, PlanCopyName), raw, 0o644, false); err != nil {
			return err
		}
		t, err := bundle.NewTranscript(nil, "ceremony run", now)
		if err != nil {
			return err
		}
		r.record = t
		// A run record is a transcript: its sittings start with
		// ceremony.start (a resumed run starts a new one), as the
		// transcript's monotonic times require.
		r.append("ceremony.start", map[string]any{"run": "start", "ceremony": p.Ceremony, "plan": p.File, "plan_sha256": p.SHA256, "operators": p.Operators,
			"witnesses": p.Witnesses, "airgap": p.Airgap, "steps": len(p.Steps), "rehearsal": o.Rehearsal, "args": r.env.Args, "start": r.env.Start})
		return r.save()
	}
	b, err := os.ReadFile(filepath.Join(o.Out, RecordName))
	if err != nil {
		return &ResumeError{Out: o.Out, Reason: fmt.Sprintf("no readable %s: %v", RecordName, err)}
	}
	entries, err := bundle.VerifyTranscript(b)
	if err != nil {
		return &ResumeError{Out: o.Out, Reason: fmt.Sprintf("%s is broken: %v", RecordName, err)}
	}
	if len(entries) == 0 || entries[0].Event != "ceremony.start" {
		return &ResumeError{Out: o.Out, Reason: RecordName + " does not start a run"}
	}
	var start struct {
		PlanSHA256 string `json:"plan_sha256"`
		Rehearsal  bool   `json:"rehearsal"`
	}
	json.Unmarshal(entries[0].Data, &start)
	if start.PlanSHA256 != p.SHA256 {
		return &ResumeError{Out: o.Out, Reason: fmt.Sprintf("it ran plan %s, and %s is %s: a run resumes with the plan it started with", start.PlanSHA256, p.File, p.SHA256)}
	}
	if start.Rehearsal != o.Rehearsal {
		return &ResumeError{Out: o.Out, Reason: "a rehearsal resumes as a rehearsal, and a ceremony as a ceremony"}
	}
	for _, e := range entries {
		switch e.Event {
		case "run.done":
			return &ResumeError{Out: o.Out, Reason: "every step is done already"}
		case "step.done":
			var sr StepResult
			if err := json.Unmarshal(e.Data, &sr); err != nil {
				return &ResumeError{Out: o.Out, Reason: fmt.Sprintf("%s line %d: %v", RecordName, e.Seq, err)}
			}
			r.done[sr.Step] = sr
		}
	}
	t, err := bundle.NewTranscript(b, "ceremony run", now)
	if err != nil {
		return err
	}
	r.record = t
	var verified []int
	for i := 1; i <= len(p.Steps); i++ {
		sr, ok := r.done[i]
		if !ok {
			break
		}
		if err := r.verifyStep(sr); err != nil {
			return &ResumeError{Out: o.Out, Reason: fmt.Sprintf("step %d was done, but its outputs are not what was recorded: %v", i, err)}
		}
		sr.Status = "verified"
		r.done[i] = sr
		verified = append(verified, i)
	}
	// Only a prefix of done steps counts: a step is redone after any
	// step before it that is not done.
	for i := range r.done {
		if i > len(verified) {
			delete(r.done, i)
		}
	}
	r.append("ceremony.start", map[string]any{"run": "resume", "plan_sha256": p.SHA256, "verified_steps": verified, "args": r.env.Args, "start": r.env.Start})
	return r.save()
}

// verifyStep checks a done step's outputs against their recorded hashes,
// and verifies its signed bundle again.
func (r *runner) verifyStep(sr StepResult) error {
	dir := filepath.Join(r.o.Out, sr.Dir)
	got, err := hashTree(dir)
	if err != nil {
		return err
	}
	for name, sum := range sr.Outputs {
		if got[name] != sum {
			if got[name] == "" {
				return fmt.Errorf("%s is missing", filepath.Join(sr.Dir, name))
			}
			return fmt.Errorf("%s changed", filepath.Join(sr.Dir, name))
		}
	}
	for name := range got {
		if _, ok := sr.Outputs[name]; !ok {
			return fmt.Errorf("%s was added", filepath.Join(sr.Dir, name))
		}
	}
	if r.p.ProducesBundle(sr.Step) {
		var inc *verify.IncompleteError
		if _, err := verify.Dir(filepath.Join(dir, "signed"), r.env.Now(), r.env.VerifyOptions()); err != nil && !errors.As(err, &inc) {
			return err
		}
	}
	return nil
}

// append adds a line to the run's record.
func (r *runner) append(event string, data any) {
	// The record is JSON of plain values: Append cannot fail on them.
	_ = r.record.Append(event, data)
}

// save writes the record whole, replacing the last one.
func (r *runner) save() error {
	return fsutil.WriteFile(filepath.Join(r.o.Out, RecordName), r.record.Bytes(), 0o644, true)
}

// hashTree is the SHA-256 of every file under dir, by path relative to it.
func hashTree(dir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = bundle.SHA256Hex(b)
		return nil
	})
	return out, err
}

// say tells the operator.
func (r *runner) say(format string, args ...any) {
	if r.o.Say != nil {
		r.o.Say(fmt.Sprintf(format, args...))
	}
}

// sortedNames are a map's keys in order.
func sortedNames[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
