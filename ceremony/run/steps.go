package run

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/plan"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/recovery"
)

// ResultName is each step's report, beside its outputs.
const ResultName = "result.json"

// step performs step i: a new directory for its outputs (an earlier failed
// attempt's is set aside, never removed), the operation, its report, and
// the record of what it wrote.
func (r *runner) step(ctx context.Context, i int) (*StepResult, error) {
	s := r.p.Steps[i-1]
	kind := s.Kind()
	dir := StepDir(r.o.Out, i, kind)
	sr := &StepResult{Step: i, Kind: kind, Dir: filepath.Base(dir)}
	if _, err := os.Lstat(dir); err == nil {
		for n := 1; ; n++ {
			aside := fmt.Sprintf("%s.failed-%d", dir, n)
			if _, err := os.Lstat(aside); os.IsNotExist(err) {
				if err := os.Rename(dir, aside); err != nil {
					return sr, err
				}
				r.append("step.set_aside", map[string]any{"step": i, "from": filepath.Base(dir), "to": filepath.Base(aside)})
				r.say("step %d: the outputs of its failed attempt are kept in %s", i, aside)
				break
			}
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return sr, err
	}
	r.append("step.start", map[string]any{"step": i, "kind": kind, "description": r.p.Describe(i), "dir": sr.Dir})
	if err := r.save(); err != nil {
		return sr, err
	}
	r.say("step %d of %d: %s", i, len(r.p.Steps), r.p.Describe(i))
	result, note, err := r.exec(ctx, r.stepEnv(i), i, s, dir)
	if outs, herr := hashTree(dir); herr == nil {
		sr.Outputs = outs
	}
	if err != nil {
		return sr, err
	}
	sr.Status, sr.Note, sr.Result = "done", note, result
	if note != "" && result == nil {
		sr.Status = "skipped"
	}
	rep, err := json.MarshalIndent(map[string]any{"step": i, "kind": kind, "plan_sha256": r.p.SHA256, "status": sr.Status,
		"note": note, "result": result}, "", "  ")
	if err != nil {
		return sr, err
	}
	if err := fsutil.WriteFile(filepath.Join(dir, ResultName), append(rep, '\n'), 0o644, false); err != nil {
		return sr, err
	}
	if sr.Outputs, err = hashTree(dir); err != nil {
		return sr, err
	}
	r.append("step.done", sr)
	if err := r.save(); err != nil {
		return sr, err
	}
	if r.o.Simulate != nil && r.p.ProducesBundle(i) {
		if err := r.o.Simulate.Publish(filepath.Join(dir, "signed")); err != nil {
			return sr, err
		}
	}
	return sr, nil
}

// stepEnv is the run's environment for step i: the plan's SHA-256 and the
// step number on every ceremony.start line, and the preview and typed
// confirmation before anything is signed.
func (r *runner) stepEnv(i int) session.Env {
	env := r.env
	env.Start = map[string]any{}
	for k, v := range r.env.Start {
		env.Start[k] = v
	}
	// Every step's bundle is sealed by the keys that signed in it (the
	// session's WriteSigned); its transcript names the plan (checked by
	// transcript verify --plan) and the plan's witnesses, whose signatures
	// over the head are added afterwards with keyrite transcript witness.
	env.PlanSHA256 = r.p.SHA256
	if len(r.p.Witnesses) > 0 {
		env.Witnesses = r.p.AllowedSigners()
	}
	env.Start["plan_step"] = i
	env.Start["ceremony"] = r.p.Ceremony
	env.Preview = func(p *session.Preview) error {
		r.say("%s", FormatPreview(i, len(r.p.Steps), p))
		return r.confirm(i, fmt.Sprintf("sign %s for %d repositories as shown", p.Command, len(p.Repos)), p)
	}
	return env
}

// confirm needs the word yes typed before an irreversible step (want
// other than "yes" for key destruction); in a rehearsal --yes answers.
func (r *runner) confirm(i int, action string, detail any) error {
	return r.confirmWant(i, action, detail, "answer", "yes", "Type yes to go on (anything else stops the run, nothing done): ")
}

func (r *runner) confirmWant(i int, action string, detail any, what, want, prompt string) error {
	act := fmt.Sprintf("step %d of %d is irreversible: %s", i, len(r.p.Steps), action)
	if r.o.Yes {
		r.append("step.confirmed", map[string]any{"step": i, "action": action, "answer": "--yes (rehearsal)", "preview": detail})
		r.say("%s: confirmed by --yes (rehearsal)", act)
		return nil
	}
	err := r.env.ConfirmTyped(session.Confirmation{Action: act, Prompt: prompt, What: what, Want: want})
	if err != nil {
		r.append("step.refused", map[string]any{"step": i, "action": action, "preview": detail})
		return err
	}
	r.append("step.confirmed", map[string]any{"step": i, "action": action, "answer": "typed", "preview": detail})
	return nil
}

// request is the request bundle step i reads.
func (r *runner) request(ctx context.Context, i int) (string, error) {
	if r.o.Simulate != nil {
		return r.o.Simulate.Request(ctx, i)
	}
	if r.o.Request == "" {
		return "", &session.MissingInputError{What: "request bundle"}
	}
	return r.o.Request, nil
}

func (r *runner) keys(refs ...string) ([]string, error) {
	var out []string
	for _, ref := range refs {
		if ref == "" {
			continue
		}
		u, err := r.devs.KeyURI(ref)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

func (r *runner) key(ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	k, err := r.keys(ref)
	if err != nil {
		return "", err
	}
	return k[0], nil
}

// exec calls the step's operation. A step a rehearsal cannot do says so
// in note, with no result.
func (r *runner) exec(ctx context.Context, env session.Env, i int, s plan.Step, dir string) (result any, note string, err error) {
	signed := filepath.Join(dir, "signed")
	update := func(rootKeys []string, extra ...string) (session.UpdateOptions, error) {
		req, err := r.request(ctx, i)
		if err != nil {
			return session.UpdateOptions{}, err
		}
		keys, err := r.keys(append(append([]string{}, rootKeys...), extra...)...)
		return session.UpdateOptions{Request: req, Out: signed, GUNs: r.p.GUNs(i), Keys: keys}, err
	}
	switch {
	case s.Provision != nil:
		return r.provision(ctx, env, i, s.Provision)
	case s.Generate != nil:
		return r.generate(ctx, env, i, s.Generate, dir)
	case s.Init != nil:
		in := s.Init
		req, err := r.request(ctx, i)
		if err != nil {
			return nil, "", err
		}
		o := ceremony.InitOptions{Request: req, Out: signed, GUNs: r.p.GUNs(i), RootThreshold: in.RootThreshold,
			RootExpiry:    plan.Expiry(in.RootExpiry, plan.DefaultRootExpiry),
			TargetsExpiry: plan.Expiry(in.TargetsExpiry, plan.DefaultTargetsExpiry), RequireAttestation: in.RequireAttestation}
		if o.RootThreshold == 0 {
			o.RootThreshold = 1
		}
		if o.RootKeys, err = r.keys(in.RootKeys...); err != nil {
			return nil, "", err
		}
		if o.TargetsKey, err = r.key(in.TargetsKey); err != nil {
			return nil, "", err
		}
		if in.TargetsDevice != "" {
			if o.TargetsDevice, err = r.devs.DeviceURI(in.TargetsDevice); err != nil {
				return nil, "", err
			}
		}
		if r.o.Rehearsal && o.RequireAttestation {
			o.RequireAttestation, note = false, "attestation is not rehearsed: software tokens attest nothing"
		}
		// The targets keys go where they would in the room: a rehearsal
		// replaces a YubiKey root's device by a software token, which
		// would otherwise take per-GUN keys.
		if root, _, _ := strings.Cut(firstOf(in.RootKeys), "/"); in.TargetsKey == "" && in.TargetsDevice == "" && r.p.IsYubiKey(root) {
			o.TargetsPlacement = ceremony.PlacementBatch
		}
		res, err := ceremony.Init(ctx, env, o)
		return res, note, err
	case s.Refresh != nil:
		u, err := update(s.Refresh.RootKeys, s.Refresh.TargetsKey, s.Refresh.SnapshotKey)
		if err != nil {
			return nil, "", err
		}
		res, err := ceremony.Refresh(ctx, env, ceremony.RefreshOptions{UpdateOptions: u, RootExpiry: plan.Expiry(s.Refresh.RootExpiry, plan.DefaultRootExpiry),
			Targets: s.Refresh.Targets, TargetsExpiry: plan.Expiry(s.Refresh.TargetsExpiry, plan.DefaultTargetsExpiry)})
		return res, "", err
	case s.RotateRoot != nil:
		u, err := update(s.RotateRoot.RootKeys, s.RotateRoot.SnapshotKey)
		if err != nil {
			return nil, "", err
		}
		newKeys, err := r.keys(s.RotateRoot.NewRootKeys...)
		if err != nil {
			return nil, "", err
		}
		res, err := ceremony.RotateRoot(ctx, env, ceremony.RotateRootOptions{UpdateOptions: u, NewRootKeys: newKeys, Threshold: s.RotateRoot.Threshold,
			RootExpiry: plan.Expiry(s.RotateRoot.RootExpiry, plan.DefaultRootExpiry)})
		return res, "", err
	case s.RotateTargets != nil:
		u, err := update(s.RotateTargets.RootKeys, s.RotateTargets.SnapshotKey)
		if err != nil {
			return nil, "", err
		}
		nk, err := r.key(s.RotateTargets.NewTargetsKey)
		if err != nil {
			return nil, "", err
		}
		res, err := recovery.Targets(ctx, env, recovery.TargetsOptions{UpdateOptions: u, NewTargetsKey: nk})
		return res, "", err
	case s.RotateSnapshot != nil:
		u, err := update(s.RotateSnapshot.RootKeys, s.RotateSnapshot.SnapshotKey)
		if err != nil {
			return nil, "", err
		}
		sk, err := r.key(s.RotateSnapshot.SnapshotKey)
		if err != nil {
			return nil, "", err
		}
		res, err := ceremony.RotateSnapshot(ctx, env, ceremony.RotateSnapshotOptions{UpdateOptions: u, ToClient: s.RotateSnapshot.To == "client", SnapshotKey: sk})
		return res, "", err
	case s.SignerAdd != nil:
		u, err := update(nil, s.SignerAdd.TargetsKey, s.SignerAdd.SnapshotKey)
		if err != nil {
			return nil, "", err
		}
		var files []string
		for _, f := range s.SignerAdd.KeyFiles {
			files = append(files, r.p.Path(f))
		}
		t := s.SignerAdd.Threshold
		if t == 0 {
			t = 1
		}
		res, err := ceremony.AddSigner(ctx, env, ceremony.SignerOptions{UpdateOptions: u, Name: s.SignerAdd.Signer, KeyFiles: files, Threshold: t})
		return res, "", err
	case s.SignerRemove != nil:
		u, err := update(nil, s.SignerRemove.TargetsKey, s.SignerRemove.SnapshotKey)
		if err != nil {
			return nil, "", err
		}
		res, err := ceremony.RemoveSigner(ctx, env, ceremony.SignerOptions{UpdateOptions: u, Name: s.SignerRemove.Signer, Force: s.SignerRemove.Force})
		return res, "", err
	case s.Sign != nil:
		from := r.p.Path(s.Sign.Bundle)
		if s.Sign.FromStep != 0 {
			from = filepath.Join(StepDir(r.o.Out, s.Sign.FromStep, r.p.Steps[s.Sign.FromStep-1].Kind()), "signed")
		}
		keys, err := r.keys(s.Sign.Keys...)
		if err != nil {
			return nil, "", err
		}
		res, err := ceremony.Sign(ctx, env, ceremony.SignOptions{Bundle: from, Out: signed, Keys: keys})
		return res, "", err
	case s.BackupPrint != nil:
		return r.backupPrint(s.BackupPrint, dir)
	case s.Restore != nil:
		return r.restore(ctx, env, i, s.Restore, dir)
	case len(s.CAKeys()) > 0:
		return r.caStep(ctx, env, i, s, dir)
	}
	return nil, "", fmt.Errorf("step %d: nothing to do", i)
}

// firstOf is the first of a list, "" when it is empty.
func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
