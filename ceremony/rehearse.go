package ceremony

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/internal/localserver"
	"github.com/keyrite/keyrite/internal/term"
	"github.com/keyrite/keyrite/trust"
)

// RehearseOptions control Rehearse.
type RehearseOptions struct {
	Dir    string        // working directory to create
	GUNs   []string      // default: two example repositories
	Server bundle.Server // empty URL: an in-process notary-server on loopback
	Log    io.Writer     // step-by-step narration
	Now    func() time.Time
}

// RehearseResult is what a rehearsal produced.
type RehearseResult struct {
	Dir       string                 `json:"dir"`
	Server    string                 `json:"server"`
	Local     bool                   `json:"local_server"`
	RootKey   *KeyDescription        `json:"root_key"`
	Init      *InitResult            `json:"init"`
	Verify    *VerifyReport          `json:"verify"`
	Published []bundle.PublishResult `json:"published"`
	Rehearsal string                 `json:"rehearsal"`
}

// DefaultRehearsalGUNs are used when a rehearsal names none.
var DefaultRehearsalGUNs = []string{"registry.example.com/rehearsal/app", "registry.example.com/rehearsal/web"}

// Rehearse runs the whole ceremony end to end on the software token: key
// generation, fetch, init, verify, publish and read-back. Without a server
// it starts notary's own server code in-process on 127.0.0.1.
func Rehearse(ctx context.Context, env Env, o RehearseOptions) (*RehearseResult, error) {
	say := func(format string, a ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "keyrite: rehearsal: "+format+"\n", a...)
		}
	}
	if len(o.GUNs) == 0 {
		o.GUNs = DefaultRehearsalGUNs
	}
	for _, g := range o.GUNs {
		if err := trust.ValidateGUN(g); err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(o.Dir, 0o700); err != nil {
		if os.IsExist(err) {
			return nil, fmt.Errorf("%s already exists; a rehearsal starts in a new directory", o.Dir)
		}
		return nil, err
	}
	res := &RehearseResult{Dir: o.Dir, Rehearsal: "software — rehearsal only"}

	// The passphrase of a rehearsal token is random and kept beside it: the
	// token protects nothing real.
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	passFile := filepath.Join(o.Dir, "softkey.passphrase")
	if err := fsutil.WriteFile(passFile, []byte(base64.RawURLEncoding.EncodeToString(raw)+"\n"), 0o600, false); err != nil {
		return nil, err
	}
	env.HSM.PIN = hsm.PINFunc(func(context.Context, hsm.PINRequest) ([]byte, error) {
		return term.ReadSecretFile(passFile, nil)
	})

	srv := o.Server
	if srv.URL == "" {
		local, err := localserver.Start(o.Dir)
		if err != nil {
			return nil, fmt.Errorf("starting the in-process notary-server: %w", err)
		}
		defer local.Close()
		srv = bundle.Server{URL: local.URL, CAFile: local.CAFile}
		res.Local = true
		say("started notary's server code in-process at %s (memory storage, gone when keyrite exits)", local.URL)
	}

	token := "softkey:file=" + filepath.Join(o.Dir, "rehearsal.softkey")
	key, err := GenerateKey(ctx, env, GenerateOptions{Device: token, Label: "root"})
	if err != nil {
		return nil, err
	}
	res.RootKey = key
	say("1/5 generated root key %s on the software token %s", key.CanonicalID, token)

	reqDir := filepath.Join(o.Dir, "request")
	info, err := bundle.Fetch(ctx, bundle.FetchOptions{Server: srv, GUNs: o.GUNs, Out: reqDir, Now: o.Now()})
	if err != nil {
		return nil, err
	}
	res.Server = info.Server
	say("2/5 fetched the server keys of %d repositories into %s", len(info.Repos), reqDir)

	signedDir := filepath.Join(o.Dir, "signed")
	ir, err := Init(ctx, env, InitOptions{Request: reqDir, Out: signedDir, RootKeys: []string{key.URI},
		GUNs: o.GUNs, RootExpiry: trust.DefaultRootExpiry, TargetsExpiry: trust.DefaultTargetsExpiry,
		Now: o.Now(), Args: []string{"rehearse"}})
	if err != nil {
		return nil, err
	}
	res.Init = ir
	say("3/5 signed %d repositories into %s (%d device signatures, each verified in software)", len(ir.Repos), signedDir, ir.Signatures)

	vr, err := Verify(signedDir, o.Now())
	if err != nil {
		return nil, err
	}
	res.Verify = vr
	say("4/5 verified %s offline: manifests, transcript chain, signatures, certificates, server keys", signedDir)

	_, pub, err := Publish(ctx, PublishOptions{Server: srv, Bundle: signedDir, Now: o.Now()})
	if err != nil {
		return nil, err
	}
	res.Published = pub
	say("5/5 published to %s and read every repository back with notary's client code", res.Server)
	return res, nil
}
