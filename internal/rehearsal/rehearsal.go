// Package rehearsal runs a whole ceremony end to end on the software token,
// against notary's server code run in-process when no server is given.
//
// It lives outside the keyrite binary (see cmd/keyrite-rehearse): the
// in-process server links notary's server code (gorm, the MySQL driver,
// rethinkdb, bugsnag, prometheus...), which has no place on the air-gapped
// machine.
package rehearsal

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
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softkey"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/internal/localserver"
	"github.com/keyrite/keyrite/internal/term"
	"github.com/keyrite/keyrite/trust"
)

// Options control Run.
type Options struct {
	Dir       string        // working directory to create
	GUNs      []string      // default: DefaultGUNs
	Server    bundle.Server // empty URL: an in-process notary-server on loopback
	Log       io.Writer     // step-by-step narration; nil discards
	DeviceLog io.Writer     // the software token's own messages; nil discards
	Now       func() time.Time
}

// Result is what a rehearsal produced.
type Result struct {
	Dir       string                  `json:"dir"`
	Server    string                  `json:"server"`
	Local     bool                    `json:"local_server"`
	RootKey   *session.KeyDescription `json:"root_key"`
	Init      *ceremony.InitResult    `json:"init"`
	Verify    *verify.Report          `json:"verify"`
	Published []bundle.PublishResult  `json:"published"`
	Rehearsal string                  `json:"rehearsal"`
}

// DefaultGUNs are used when a rehearsal names none.
var DefaultGUNs = []string{"registry.example.com/rehearsal/app", "registry.example.com/rehearsal/web"}

// Run runs the whole ceremony end to end on the software token: key
// generation, fetch, init, verify, publish and read-back. Without a server
// it starts notary's own server code in-process on 127.0.0.1.
func Run(ctx context.Context, o Options) (*Result, error) {
	say := func(format string, a ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "keyrite: rehearsal: "+format+"\n", a...)
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.GUNs) == 0 {
		o.GUNs = DefaultGUNs
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
	res := &Result{Dir: o.Dir, Rehearsal: hsm.SoftwareLabel}

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
	// The software token is the only device a rehearsal uses.
	reg := hsm.NewRegistry()
	reg.Register("softkey", softkey.NewGeneratedPassphraseDriver())
	hsmOpts := hsm.Options{PIN: hsm.PINFunc(func(context.Context, hsm.PINRequest) ([]byte, error) {
		return term.ReadSecretFile(passFile)
	}), Log: o.DeviceLog}

	srv := o.Server
	if srv.URL == "" {
		local, err := localserver.Start(o.Dir)
		if err != nil {
			return nil, fmt.Errorf("starting the in-process notary-server: %w", err)
		}
		defer local.Close()
		srv = bundle.Server{URL: local.URL, CAFile: local.CAFile}
		res.Local = true
		say("started notary's server code in-process at %s (memory storage, gone when keyrite-rehearse exits)", local.URL)
	}
	step := ceremonySteps(ctx, reg, hsmOpts, srv, o.Now)

	token := "softkey:file=" + filepath.Join(o.Dir, "rehearsal.softkey")
	key, err := step.generate(token, "root")
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
	ir, err := step.init(reqDir, signedDir, key.URI, o.GUNs)
	if err != nil {
		return nil, err
	}
	res.Init = ir
	say("3/5 signed %d repositories into %s (%d device signatures, each verified in software)", len(ir.Repos), signedDir, ir.Signatures)

	vr, err := step.verify(signedDir)
	if err != nil {
		return nil, err
	}
	res.Verify = vr
	say("4/5 verified %s offline: manifests, transcript chain, signatures, certificates, server keys", signedDir)

	pub, err := step.publish(signedDir)
	if err != nil {
		return nil, err
	}
	res.Published = pub
	say("5/5 published to %s and read every repository back with notary's client code", res.Server)
	return res, nil
}

// steps are the rehearsal's calls into ceremony.
type steps struct {
	generate func(device, label string) (*session.KeyDescription, error)
	init     func(request, out, rootKey string, guns []string) (*ceremony.InitResult, error)
	verify   func(dir string) (*verify.Report, error)
	publish  func(dir string) ([]bundle.PublishResult, error)
}

// ceremonySteps is the one place where the rehearsal calls ceremony and
// fills in its options: when ceremony's API changes, only this changes.
func ceremonySteps(ctx context.Context, reg *hsm.Registry, h hsm.Options, srv bundle.Server, now func() time.Time) steps {
	env := session.Env{Registry: reg, HSM: h, Clock: now, Args: []string{"rehearse"}}
	return steps{
		generate: func(device, label string) (*session.KeyDescription, error) {
			return ceremony.GenerateKey(ctx, env, ceremony.GenerateOptions{Device: device, Label: label})
		},
		init: func(request, out, rootKey string, guns []string) (*ceremony.InitResult, error) {
			return ceremony.Init(ctx, env, ceremony.InitOptions{Request: request, Out: out, RootKeys: []string{rootKey},
				GUNs: guns, RootExpiry: trust.DefaultRootExpiry, TargetsExpiry: trust.DefaultTargetsExpiry})
		},
		verify: func(dir string) (*verify.Report, error) {
			return verify.Dir(dir, now(), env.VerifyOptions())
		},
		publish: func(dir string) ([]bundle.PublishResult, error) {
			_, pub, err := ceremony.Publish(ctx, ceremony.PublishOptions{Server: srv, Bundle: dir, Now: now()})
			return pub, err
		},
	}
}
