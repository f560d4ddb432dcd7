package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/pkcs11"
	"github.com/keyrite/keyrite/hsm/softkey"
	"github.com/keyrite/keyrite/hsm/yubikey"
	"github.com/keyrite/keyrite/internal/airgap"
	"github.com/keyrite/keyrite/internal/cliutil"
	"github.com/keyrite/keyrite/internal/term"
	"github.com/keyrite/keyrite/trust"
	"github.com/keyrite/keyrite/trust/store"
	"github.com/sirupsen/logrus"
	"github.com/theupdateframework/notary/tuf/data"
)

// Exit codes (house style).
const (
	exitOK       = 0
	exitFailed   = 1
	exitUsage    = 2
	exitDevice   = 3 // device absent, locked, or PIN blocked / wrong
	exitVerifyKO = 4 // verification failed
)

// App holds what every command shares. Commands are built from it; there
// are no package-level command variables.
type App struct {
	Stdout, Stderr io.Writer
	PINFiles       []string // --pin-file: FILE, or DEVICE=FILE per device (pinfiles.go)
	Module         string
	NoWait         bool   // fail at once when a named device is absent
	Force          bool   // try a PIN even with one attempt left
	TrustDir       string // the trust store; empty: store.DefaultDir()
	StateDir       string // --state-dir: where the journal lives
	Now            func() time.Time
	Verbose        bool // --verbose: structured log on stderr
	RequireAirgap  bool // --require-airgap: refuse to start with a network up
	// Answer types confirmations instead of the terminal: tests only.
	Answer func(session.Confirmation) (string, error)

	cleanLeftovers, resume bool // the leftovers question answered in advance
	warnedState            bool

	args     []string // the command line, recorded in transcripts
	signers  []byte   // --witnesses: the ceremony's witnesses (allowed signers)
	registry *hsm.Registry
	pkcs11   *pkcs11.Driver
	yubikey  *yubikey.Driver
	pins     *pinFiles
	airgap   *airgap.Report // the air-gap check, when one was required
	log      *slog.Logger
	// attestRoots replaces Yubico's attestation roots. Only tests set it
	// (through mainWithRoots); no flag or environment variable can.
	attestRoots *x509.CertPool
	// rehearsal is the declared rehearsal attestation root
	// (--rehearsal-attestation-root, rehearsalroot.go): nil in a real run.
	rehearsalRootFile string
	rehearsal         *rehearsalRoot
}

// Main runs keyrite with os.Args and returns the exit code.
func Main() int { return mainWithRoots(nil) }

// mainWithRoots is Main with attestation roots other than Yubico's, for
// tests that use virtual YubiKeys.
func mainWithRoots(roots *x509.CertPool) int {
	// notary's packages log through the global logrus; keyrite reports
	// through its own errors instead.
	logrus.SetOutput(io.Discard)
	app := &App{Stdout: os.Stdout, Stderr: os.Stderr, Now: time.Now, attestRoots: roots}
	ctx, stop := interruptContext()
	defer stop()
	return app.Run(ctx, os.Args[1:])
}

// useGeneratedPassphraseTokens registers the software token driver for
// tokens whose passphrase keyrite generated: a plan rehearsal makes every
// token it uses itself, with a random passphrase, so age's default scrypt
// work factor would only cost time and memory (see softkey).
func (a *App) useGeneratedPassphraseTokens() {
	a.registry.Register("softkey", softkey.NewGeneratedPassphraseDriver())
}

// Run executes one command line.
func (a *App) Run(ctx context.Context, args []string) int {
	a.args = args
	a.pkcs11 = pkcs11.NewDriver()
	a.yubikey = yubikey.NewDriver()
	a.registry = hsm.NewRegistry()
	// YubiKeys first: piv-go opens cards exclusively, and a PKCS#11 module
	// such as OpenSC keeps the cards it listed open.
	a.registry.Register(yubikey.Scheme, a.yubikey)
	a.registry.Register("pkcs11", a.pkcs11)
	a.registry.Register("softkey", softkey.NewDriver())
	a.registry.RegisterAttestation(yubikey.Format, yubikey.AttestationVerifier{Roots: a.attestRoots})
	defer a.pkcs11.Close()
	defer a.yubikey.Close()
	defer func() {
		if a.pins != nil {
			a.pins.Wipe()
		}
	}()

	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	cmd, err := root.ExecuteContextC(context.WithValue(ctx, registryKey{}, a.registry))
	if err == nil {
		return exitOK
	}
	a.logFailure(err)
	if a.jsonRequested(cmd, args) {
		return a.reportJSON(err)
	}
	var ue *cliutil.UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(a.Stderr, "keyrite: error: %v\n", ue.Err)
		fmt.Fprintf(a.Stderr, "keyrite: hint: see %s --help\n", ue.Cmd)
		return exitUsage
	}
	code, hint := classify(err)
	if cause := context.Cause(ctx); cause != nil && errors.Is(err, context.Canceled) {
		err = fmt.Errorf("%v: %w", cause, err)
	}
	fmt.Fprintf(a.Stderr, "keyrite: error: %v\n", err)
	if hint != "" {
		fmt.Fprintf(a.Stderr, "keyrite: hint: %s\n", hint)
	}
	return code
}

// env is what ceremonies need: the device registry, the PIN source, the
// clock and the command line for the transcript.
func (a *App) env() session.Env {
	if a.pins == nil {
		// checkPINFlags refused a bad --pin-file before any command ran.
		a.pins, _ = parsePINFiles(a.PINFiles)
		a.pins.onRead = a.logPINEntry
	}
	trustStore := a.trustStore()
	env := session.Env{Registry: a.registry, Clock: a.Now, Args: a.args, Confirm: a.confirm, Trust: trustStore, Log: a.logger(), Witnesses: a.signers,
		HSM:     hsm.Options{PIN: a.devicePINs(), Module: a.Module, Log: a.Stderr, NoWait: a.NoWait, Force: a.Force},
		Journal: a.journalDir(), Leftovers: a.leftoverAction(), KeyInUse: keyInUse(trustStore),
		Start: a.airgapStart()}
	a.markRehearsal(&env)
	return env
}

// batchEnv is env with a progress line per item, unless the output is
// JSON.
func (a *App) batchEnv(verb string, asJSON bool) session.Env {
	env := a.env()
	if !asJSON {
		env.Progress = a.progress(verb)
	}
	return env
}

func (a *App) printJSON(v any) error {
	enc := json.NewEncoder(a.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *App) progress(verb string) func(done, total int, gun string) {
	p := a.newProgress(verb)
	return func(done, total int, gun string) { p.item(done, total, gun, verb) }
}

// usagef is a command line keyrite cannot act on (exit code 2).
var usagef = cliutil.Usagef

// jsonOrBanner prints v as JSON when asked, and then the command is done;
// otherwise it warns on stderr when a software token was involved, before
// the command's own human-readable report.
func (a *App) jsonOrBanner(v any, asJSON, software bool) (done bool, err error) {
	if asJSON {
		return true, a.printJSON(v)
	}
	a.warnSoftware(software)
	return false, nil
}

// warnSoftware prints the rehearsal banner when software keys were used.
func (a *App) warnSoftware(software bool) {
	if software {
		fmt.Fprintf(a.Stderr, "keyrite: warning: %s\n", cliutil.SoftwareBanner)
	}
}

// confirm asks on the terminal for the answer an irreversible step needs,
// after saying what it will do.
func (a *App) confirm(c session.Confirmation) (string, error) {
	fmt.Fprintf(a.Stderr, "keyrite: %s\n", c.Action)
	if a.Answer != nil {
		return a.Answer(c)
	}
	got, err := term.ReadLine(c.Prompt)
	if errors.Is(err, term.ErrNoTerminal) {
		// Nobody to ask: not confirmed (and not a PIN problem).
		return "", &session.ConfirmationError{Action: c.Action}
	}
	return got, err
}

// trustStore is the trust store --trust-dir names, else the default one
// under the user's configuration directory.
func (a *App) trustStore() *store.Store {
	dir := a.TrustDir
	if dir == "" {
		d, err := store.DefaultDir()
		if err != nil {
			// No configuration directory: nothing can be pinned, and an
			// existing repository is then trusted only on first use.
			return nil
		}
		dir = d
	}
	return store.Open(dir)
}

// keyInUse answers from the trust store whether a key (canonical ID) is a
// root key of a pinned root, so that key delete refuses a key clients
// trust; nil when there is no trust store.
func keyInUse(s *store.Store) func(canonicalID string) (string, bool) {
	if s == nil {
		return nil
	}
	return func(id string) (string, bool) {
		pins, err := s.List()
		if err != nil {
			return "the trust store " + s.Dir + " (unreadable: " + err.Error() + ")", true
		}
		for _, p := range pins {
			_, root, err := s.Pinned(p.GUN)
			if err != nil {
				return "the trust store " + s.Dir + " (unreadable: " + err.Error() + ")", true
			}
			var sr data.SignedRoot
			if json.Unmarshal(root, &sr) != nil {
				continue
			}
			keys, _, err := trust.RoleKeys(&sr, data.CanonicalRootRole)
			if err != nil {
				continue
			}
			for _, k := range keys {
				if c, err := trust.CanonicalID(k); err == nil && c == id {
					return fmt.Sprintf("the root of %s pinned here (version %d)", p.GUN, p.Version), true
				}
			}
		}
		return "", false
	}
}
