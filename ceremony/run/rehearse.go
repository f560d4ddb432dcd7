package run

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/plan"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/trust/store"
)

// RehearsalDir is where a rehearsal keeps its stand-ins, under its output
// directory: software tokens, custodians' and witnesses' generated
// identities, the softkey passphrase, its own trust store, and the
// simulated server's request bundles.
const RehearsalDir = "rehearsal"

// RehearsalServer is the server a rehearsal's simulated request bundles
// name: no server answers there, so nothing rehearsed can be published.
const RehearsalServer = "https://rehearsal.invalid"

// rehearsal replaces a plan's devices by software tokens, one file per
// device, and its custodians and witnesses by generated identities.
type rehearsal struct {
	p          *plan.Plan
	dir        string
	pass       []byte
	custodians map[string]string // name -> generated age recipient
	identities []string          // their identity files
	witnesses  map[string]string // name -> generated SSH public key
}

// DeviceURI implements Resolver: a software token per device.
func (h *rehearsal) DeviceURI(name string) (string, error) {
	if _, err := h.p.DeviceURI(name); err != nil {
		return "", err
	}
	u := &hsm.URI{Scheme: "softkey", Path: []hsm.Attr{{Name: "file", Value: filepath.Join(h.dir, "devices", name+".softkey")}}}
	return u.String(), nil
}

// KeyURI implements Resolver: the key's label on the device's software
// token (slot-9c for a YubiKey's slot 9c).
func (h *rehearsal) KeyURI(ref string) (string, error) {
	if _, err := h.p.KeyURI(ref); err != nil {
		return "", err
	}
	dev, label, _ := strings.Cut(ref, "/")
	d, err := h.DeviceURI(dev)
	if err != nil {
		return "", err
	}
	if h.p.IsYubiKey(dev) {
		label = "slot-" + strings.ToLower(label)
	}
	return d + ";object=" + label, nil
}

// PIN answers every software token's passphrase.
func (h *rehearsal) PIN(ctx context.Context, req hsm.PINRequest) ([]byte, error) {
	return append([]byte{}, h.pass...), nil
}

// prepare makes the stand-ins, or reads them again on resume.
func (h *rehearsal) prepare() error {
	for _, d := range []string{"devices", "custodians", "witnesses"} {
		if err := os.MkdirAll(filepath.Join(h.dir, d), 0o700); err != nil {
			return err
		}
	}
	passFile := filepath.Join(h.dir, "softkey.passphrase")
	if b, err := os.ReadFile(passFile); err == nil {
		h.pass = []byte(strings.TrimSpace(string(b)))
	} else {
		raw := make([]byte, 16)
		rand.Read(raw)
		h.pass = []byte(hex.EncodeToString(raw))
		if err := fsutil.WriteFile(passFile, append(append([]byte{}, h.pass...), '\n'), 0o600, false); err != nil {
			return err
		}
	}
	h.custodians = map[string]string{}
	for _, name := range sortedNames(h.p.Custodians) {
		file := filepath.Join(h.dir, "custodians", name+".key")
		b, err := os.ReadFile(file)
		if err != nil {
			id, err := age.GenerateX25519Identity()
			if err != nil {
				return err
			}
			b = []byte(fmt.Sprintf("# rehearsal custodian %s\n# public key: %s\n%s\n", name, id.Recipient(), id))
			if err := fsutil.WriteFile(file, b, 0o600, false); err != nil {
				return err
			}
		}
		ids, err := age.ParseIdentities(strings.NewReader(string(b)))
		if err != nil || len(ids) != 1 {
			return fmt.Errorf("%s: %v", file, err)
		}
		h.custodians[name] = ids[0].(*age.X25519Identity).Recipient().String()
		h.identities = append(h.identities, file)
	}
	h.witnesses = map[string]string{}
	for _, w := range h.p.Witnesses {
		file := filepath.Join(h.dir, "witnesses", w.Name)
		if _, err := os.Stat(file + ".pub"); err != nil {
			_, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			block, err := ssh.MarshalPrivateKey(priv, "rehearsal witness "+w.Name)
			if err != nil {
				return err
			}
			signer, err := ssh.NewSignerFromKey(priv)
			if err != nil {
				return err
			}
			if err := fsutil.WriteFile(file, pem.EncodeToMemory(block), 0o600, false); err != nil {
				return err
			}
			if err := fsutil.WriteFile(file+".pub", ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644, false); err != nil {
				return err
			}
		}
		b, err := os.ReadFile(file + ".pub")
		if err != nil {
			return err
		}
		h.witnesses[w.Name] = strings.TrimSpace(string(b))
	}
	return nil
}

// ensureKeys makes, on the software tokens, the keys the plan uses but no
// step of it makes: in a ceremony they exist already.
func (h *rehearsal) ensureKeys(ctx context.Context, env session.Env) ([]string, error) {
	made := map[string]bool{}
	for _, s := range h.p.Steps {
		switch {
		case s.Generate != nil:
			for _, d := range s.Generate.Devices {
				name := s.Generate.Label
				if h.p.IsYubiKey(d) {
					name = s.Generate.Slot
				}
				made[d+"/"+name] = true
			}
		case s.Restore != nil:
			made[s.Restore.To] = true
		}
	}
	var refs []string
	for _, s := range h.p.Steps {
		for _, ref := range keyRefs(s) {
			if !made[ref] {
				refs = append(refs, ref)
				made[ref] = true
			}
		}
	}
	var out []string
	for _, ref := range refs {
		uri, err := h.KeyURI(ref)
		if err != nil {
			return nil, err
		}
		if _, b, err := env.Registry.OpenKey(ctx, uri, env.HSM); err == nil {
			b.Close()
			continue // made by the run being resumed
		}
		dev, _ := session.DeviceKey(uri)
		u, _ := hsm.ParseURI(uri)
		if _, err := ceremony.GenerateKey(ctx, env, ceremony.GenerateOptions{Device: dev, Label: u.Get("object")}); err != nil {
			return nil, fmt.Errorf("rehearsal: making key %s, which the plan expects to exist: %w", ref, err)
		}
		out = append(out, ref)
	}
	return out, nil
}

// keyRefs are the keys a step uses (not those it makes).
func keyRefs(s plan.Step) []string {
	var out []string
	add := func(refs ...string) {
		for _, r := range refs {
			if r != "" {
				out = append(out, r)
			}
		}
	}
	switch {
	case s.Init != nil:
		add(s.Init.RootKeys...)
		add(s.Init.TargetsKey)
	case s.Refresh != nil:
		add(s.Refresh.RootKeys...)
		add(s.Refresh.TargetsKey, s.Refresh.SnapshotKey)
	case s.RotateRoot != nil:
		add(s.RotateRoot.RootKeys...)
		add(s.RotateRoot.NewRootKeys...)
		add(s.RotateRoot.SnapshotKey)
	case s.RotateTargets != nil:
		add(s.RotateTargets.RootKeys...)
		add(s.RotateTargets.NewTargetsKey, s.RotateTargets.SnapshotKey)
	case s.RotateSnapshot != nil:
		add(s.RotateSnapshot.RootKeys...)
		add(s.RotateSnapshot.SnapshotKey)
	case s.SignerAdd != nil:
		add(s.SignerAdd.TargetsKey, s.SignerAdd.SnapshotKey)
	case s.SignerRemove != nil:
		add(s.SignerRemove.TargetsKey, s.SignerRemove.SnapshotKey)
	case s.Sign != nil:
		add(s.Sign.Keys...)
	default:
		add(s.CAKeys()...)
	}
	return out
}

// Rehearse runs a plan as Run does, with every device replaced by a
// software token (YubiKeys too: attestation and provisioning are not
// rehearsed), custodians and witnesses by generated identities, a trust
// store of its own, and, without a request bundle, a simulated server:
// each step reads a request bundle as the server would serve it after the
// earlier steps' bundles were published, and repositories the plan
// changes but does not create are made first on the software tokens.
// Every output is marked a rehearsal. yes answers every confirmation.
func Rehearse(ctx context.Context, env session.Env, o Options) (*Result, error) {
	o.Rehearsal = true
	if !o.Resume {
		if err := fsutil.RefuseExisting(o.Out, "run"); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(o.Out, 0o700); err != nil {
			return nil, err
		}
		o.outReady = true
	}
	h := &rehearsal{p: o.Plan, dir: filepath.Join(o.Out, RehearsalDir)}
	if err := h.prepare(); err != nil {
		return nil, err
	}
	o.Devices, o.Custodians, o.Identities = h, h.custodians, h.identities
	env.HSM.PIN = hsm.PINFunc(h.PIN)
	env.Trust = store.Open(filepath.Join(h.dir, "trust"))
	env.TOFU = nil
	start := map[string]any{}
	for k, v := range env.Start {
		start[k] = v
	}
	start["rehearsal_witnesses"] = h.witnesses
	env.Start = start
	made, err := h.ensureKeys(ctx, env)
	if err != nil {
		return nil, err
	}
	if len(made) > 0 && o.Say != nil {
		o.Say(fmt.Sprintf("rehearsal: made %s on the software tokens (the plan expects them to exist)", strings.Join(made, ", ")))
	}
	if o.Request == "" {
		o.Simulate = &Server{dir: filepath.Join(h.dir, "server"), p: o.Plan, h: h, env: env}
		if err := o.Simulate.load(); err != nil {
			return nil, err
		}
	}
	return Run(ctx, env, o)
}
