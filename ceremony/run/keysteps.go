package run

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/plan"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/recovery"
)

// The steps that make, print or restore keys (the repository steps are in
// steps.go).

func (r *runner) provision(ctx context.Context, env session.Env, i int, p *plan.Provision) (any, string, error) {
	if r.o.Rehearsal {
		return nil, "not rehearsed: software tokens are not provisioned", nil
	}
	uri, err := r.devs.DeviceURI(p.Device)
	if err != nil {
		return nil, "", err
	}
	if p.Reset {
		// Key destruction: each key's ID is shown with its words, and
		// the operator types the first two words of every one.
		keys, _, err := ceremony.ListKeys(ctx, env, uri)
		if err != nil {
			return nil, "", err
		}
		var b strings.Builder
		var want []string
		fmt.Fprintf(&b, "step %d of %d: reset ERASES YubiKey %s (%s) and every key on it:\n", i, len(r.p.Steps), p.Device, uri)
		for _, k := range keys {
			words, _ := backup.Words(k.CanonicalID)
			w := strings.Fields(words)
			fmt.Fprintf(&b, "  slot key %s %s\n    words: %s\n", k.Label, k.CanonicalID, words)
			want = append(want, w[0], w[1])
		}
		if len(keys) == 0 {
			fmt.Fprintf(&b, "  (it holds no keys)\n")
		}
		r.say("%s", strings.TrimRight(b.String(), "\n"))
		if len(want) == 0 {
			err = r.confirm(i, "reset erases YubiKey "+p.Device, map[string]any{"device": uri})
		} else {
			err = r.confirmWant(i, fmt.Sprintf("reset destroys %d keys on YubiKey %s", len(keys), p.Device), map[string]any{"device": uri, "keys": keys},
				"first two words of each key ID", strings.Join(want, " "), "Type the first two words of each key ID above, in order, to destroy them: ")
		}
		if err != nil {
			return nil, "", err
		}
	} else {
		r.say("step %d of %d: provision YubiKey %s (%s): new PIN, PUK and management key", i, len(r.p.Steps), p.Device, uri)
		if err := r.confirm(i, "provision YubiKey "+p.Device, map[string]any{"device": uri}); err != nil {
			return nil, "", err
		}
	}
	rep, err := ceremony.Provision(ctx, env, ceremony.ProvisionOptions{Device: uri, Reset: p.Reset, NewPIN: r.o.NewPIN, NewPUK: r.o.NewPUK})
	return rep, "", err
}

// generate makes a key as the step says, after showing where it goes.
func (r *runner) generate(ctx context.Context, env session.Env, i int, g *plan.Generate, dir string) (any, string, error) {
	var uris []string
	label := g.Label
	for _, d := range g.Devices {
		name := g.Label
		if r.p.IsYubiKey(d) {
			name = g.Slot
		}
		u, err := r.devs.KeyURI(d + "/" + name)
		if err != nil {
			return nil, "", err
		}
		// A rehearsal keeps a YubiKey slot's key under the object name
		// its key references use.
		if pu, err := hsm.ParseURI(u); err == nil && pu.Get("object") != "" {
			label = pu.Get("object")
		}
		uris = append(uris, u)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "step %d of %d: a new key %q (%s, %s) will be made:\n", i, len(r.p.Steps), label, orP256(g.Algorithm), g.Mode)
	for j, u := range uris {
		fmt.Fprintf(&b, "  on %s: %s\n", g.Devices[j], hsm.Redact(u))
	}
	var cs []backup.Custodian
	if g.Mode == plan.ModeBackedUp {
		recipients := r.o.Custodians
		if recipients == nil {
			recipients = r.p.Custodians
		}
		for _, name := range g.Custodians {
			c, err := backup.ParseCustodian(name + "=" + recipients[name])
			if err != nil {
				return nil, "", err
			}
			cs = append(cs, c)
			fmt.Fprintf(&b, "  share for %s (%s)\n", name, c.Kind)
		}
		fmt.Fprintf(&b, "  any %d of the %d shares restore it; the backup goes to %s\n", g.Threshold, len(cs), filepath.Join(dir, "backup"))
	}
	r.say("%s", strings.TrimRight(b.String(), "\n"))
	if err := r.confirm(i, fmt.Sprintf("generate key %q", label), map[string]any{"label": label, "mode": g.Mode, "devices": uris, "custodians": g.Custodians, "threshold": g.Threshold}); err != nil {
		return nil, "", err
	}
	if g.Mode == plan.ModeBackedUp {
		res, err := ceremony.GenerateBackedUp(ctx, env, ceremony.BackedUpOptions{Devices: uris, Label: label, Algorithm: g.Algorithm,
			Custodians: cs, Threshold: g.Threshold, Out: filepath.Join(dir, "backup"), Passphrase: r.o.NewPassphrase, PluginUI: r.o.PluginUI})
		return res, "", err
	}
	o := ceremony.GenerateOptions{Device: uris[0], Label: label, Algorithm: g.Algorithm, PINPolicy: orDefault(g.PINPolicy, "always"),
		TouchPolicy: orDefault(g.TouchPolicy, "always")}
	note := ""
	if g.Mode == plan.ModeAttested {
		if r.o.Rehearsal {
			note = "attestation is not rehearsed: the key is made on a software token, unattested"
		} else {
			o.Mode = ceremony.ModeAttested
		}
	}
	res, err := ceremony.GenerateKey(ctx, env, o)
	return res, note, err
}

// shares are the share files of an earlier backed-up generation.
func (r *runner) shares(from int) ([]string, error) {
	dir := filepath.Join(StepDir(r.o.Out, from, r.p.Steps[from-1].Kind()), "backup")
	m, err := filepath.Glob(filepath.Join(dir, "*.share.age"))
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("step %d left no share files in %s", from, dir)
	}
	sort.Strings(m)
	return m, nil
}

func (r *runner) backupPrint(bp *plan.BackupPrint, dir string) (any, string, error) {
	files := bp.Shares
	if bp.FromStep != 0 {
		var err error
		if files, err = r.shares(bp.FromStep); err != nil {
			return nil, "", err
		}
	} else {
		for j := range files {
			files[j] = r.p.Path(files[j])
		}
	}
	var out []*ceremony.PrintResult
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".age"), ".share") + ".pdf"
		res, err := ceremony.PrintShare(f, filepath.Join(dir, name))
		if err != nil {
			return out, "", err
		}
		out = append(out, res)
	}
	return out, "", nil
}

func (r *runner) restore(ctx context.Context, env session.Env, i int, rs *plan.Restore, dir string) (any, string, error) {
	to, err := r.key(rs.To)
	if err != nil {
		return nil, "", err
	}
	in := recovery.ShareInputs{}
	if rs.FromStep != 0 {
		if in.Shares, err = r.shares(rs.FromStep); err != nil {
			return nil, "", err
		}
	} else {
		if r.o.Rehearsal {
			return nil, "not rehearsed: the shares named are a real backup's", nil
		}
		for _, f := range rs.Shares {
			in.Shares = append(in.Shares, r.p.Path(f))
		}
	}
	for _, f := range rs.Identities {
		in.Identities = append(in.Identities, r.p.Path(f))
	}
	in.Identities = append(in.Identities, r.o.Identities...)
	if r.o.ShareInputs != nil {
		in = r.o.ShareInputs(in)
	}
	label := ""
	if u, err := hsm.ParseURI(to); err == nil {
		label = u.Get("object")
	}
	r.say("step %d of %d: the backed-up key in %d share files will be restored onto %s", i, len(r.p.Steps), len(in.Shares), hsm.Redact(to))
	if err := r.confirm(i, "restore a key onto "+rs.To, map[string]any{"to": to, "shares": in.Shares}); err != nil {
		return nil, "", err
	}
	res, err := recovery.Restore(ctx, env, recovery.RestoreOptions{ShareInputs: in, To: to, Label: label, Out: filepath.Join(dir, "record")})
	return res, "", err
}

func orP256(a string) string { return orDefault(a, hsm.P256) }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
