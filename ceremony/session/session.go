// Package session is the frame every ceremony and recovery runs in: the
// devices (each opened once, one login per device), the clock, the
// transcript, progress and confirmation callbacks, and the writing of what
// leaves the room (written whole, then verified as verify would). The
// update frame (Update) is built on it. It sits below ceremony and
// recovery, which both use it, and above trust, backup and bundle.
package session

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/journal"
	"github.com/keyrite/keyrite/trust/store"
)

// Env is what every operation needs from the outside world. It carries no
// command-line flags: the command line builds it.
type Env struct {
	Registry *hsm.Registry
	HSM      hsm.Options
	// Clock is the time every signature, expiry and transcript line uses;
	// nil means time.Now.
	Clock func() time.Time
	// Args is the command line as given, recorded in transcripts (keyrite
	// accepts no secrets on it).
	Args []string
	// Progress is told of each item of a batch as it completes; nil: silent.
	Progress func(done, total int, item string)
	// Confirm asks the operator to type an answer before an irreversible
	// step and returns what was typed; nil: nothing irreversible can be
	// confirmed, so it is refused.
	Confirm func(c Confirmation) (string, error)
	// Trust is the trust store: current metadata is accepted only by
	// walking the root chain from its pins, and what this machine signs
	// is pinned there. nil: nothing is pinned and nothing is recorded.
	Trust *store.Store
	// TOFU names, per GUN the trust store has no pin for, the root key IDs
	// the operator vouches for (full or at least 12 characters).
	TOFU map[string][]string
	// Start holds what every ceremony.start line records beyond the
	// operation's own fields: a planned run's plan_sha256 and step, the
	// air-gap check. nil: nothing.
	Start map[string]any
	// Preview is shown every change before anything is signed or created
	// (see Preview); an error stops the operation, nothing done. nil: no
	// preview.
	Preview func(p *Preview) error

	// Journal is the directory of the journals that record the keys
	// commands create on devices (see journal.go); empty: none is kept.
	Journal string
	// Leftovers answers in advance the question a run asks about keys an
	// interrupted run left on its devices; LeftoversAsk asks through
	// Confirm.
	Leftovers LeftoverAction
	// KeyInUse says whether a key (canonical ID) is named in a pinned root
	// and where; nil: nothing is pinned.
	KeyInUse func(canonicalID string) (where string, inUse bool)
	// Log is the structured log (--verbose); nil: none. Never secrets.
	Log *slog.Logger
	// Witnesses are the ceremony's witnesses, as an allowed signers file
	// (ssh-keygen's ALLOWED SIGNERS) the transcript records: a witness
	// signature under a name must be by a key it lists for that name.
	Witnesses []byte
	// PlanSHA256 is the SHA-256 of the ceremony plan being run (the plan
	// runner sets it); every ceremony.start records it as plan_sha256,
	// which transcript verify --plan compares.
	PlanSHA256 string
	// Rehearsal is a rehearsal the operator declared (a rehearsal
	// attestation root trusted for a virtual YubiKey): everything the
	// session writes is a rehearsal, as with a software token.
	Rehearsal bool
}

// Confirmation is a question put to the operator before an irreversible
// step: it is confirmed only by typing Want back exactly.
type Confirmation struct {
	Action string // what happens if confirmed, e.g. "reset erases every key on YubiKey serial 7000003"
	Prompt string // the question, naming what to type
	What   string // what is typed, e.g. "serial"
	Want   string
}

// ConfirmTyped asks for a typed confirmation; a mismatch, or no way to
// ask, is a *ConfirmationError.
func (e Env) ConfirmTyped(c Confirmation) error {
	if e.Confirm == nil {
		return &ConfirmationError{Action: c.Action}
	}
	got, err := e.Confirm(c)
	if err != nil {
		return err
	}
	if strings.TrimSpace(got) != c.Want {
		return &ConfirmationError{Action: c.Action, What: c.What, Typed: strings.TrimSpace(got)}
	}
	return nil
}

// Now is the environment's clock.
func (e Env) Now() time.Time {
	if e.Clock == nil {
		return time.Now()
	}
	return e.Clock()
}

// VerifyOptions are the options every verification in this environment
// uses.
func (e Env) VerifyOptions() verify.Options {
	return verify.Options{Registry: e.Registry}
}

// Session is one operation: its devices and its transcript. Close it.
type Session struct {
	Env
	command  string
	unsaved  []hsm.BatchSaver // batches whose keys are not stored yet (saveBatches)
	open     map[string]hsm.Backend
	order    []string
	software bool
	devices  []bundle.Device
	t        *bundle.Transcript
	trusted  []*Trusted

	journal *journal.Journal // created with the run's first key
	jhead   journal.Header
	pending []pendingEvent // recorded by Begin
	seal    sealState
}

// New starts a session for a command (the name its transcript records).
func New(env Env, command string) *Session {
	return &Session{Env: env, command: command, open: map[string]hsm.Backend{}, software: env.Rehearsal}
}

// Command is the name the transcript records.
func (s *Session) Command() string { return s.command }

// DeviceKey is the part of a key URI that selects its device.
func DeviceKey(uri string) (string, error) {
	u, err := hsm.ParseURI(uri)
	if err != nil {
		return "", err
	}
	return u.Without("object", "id").String(), nil
}

// Backend opens (once) the device a URI selects.
func (s *Session) Backend(ctx context.Context, uri string) (hsm.Backend, error) {
	k, err := DeviceKey(uri)
	if err != nil {
		return nil, err
	}
	if b, ok := s.open[k]; ok {
		return b, nil
	}
	b, _, err := s.Registry.OpenDevice(ctx, uri, s.HSM)
	if err != nil {
		return nil, err
	}
	s.open[k] = b
	s.order = append(s.order, k)
	info := b.Info()
	s.software = s.software || info.Software
	s.logger().Debug("device opened", "uri", hsm.Redact(info.URI), "kind", info.Kind, "serial", info.Serial, "software", info.Software)
	s.devices = append(s.devices, bundle.Device{URI: info.URI, Kind: info.Kind, Label: info.Label, Serial: info.Serial,
		Model: info.Model, Firmware: info.Firmware, Software: info.Software})
	return b, nil
}

// Backends opens (once each) the devices the URIs select, in order. Errors
// name the device.
func (s *Session) Backends(ctx context.Context, uris []string) ([]hsm.Backend, error) {
	var out []hsm.Backend
	for _, uri := range uris {
		b, err := s.Backend(ctx, uri)
		if err != nil {
			return nil, WrapDevice(uri, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// Key opens the key a URI names, on its device. Errors name the key's URI.
func (s *Session) Key(ctx context.Context, uri string) (hsm.Key, error) {
	b, err := s.Backend(ctx, uri)
	if err != nil {
		return nil, WrapDevice(uri, err)
	}
	k, err := b.Open(ctx, uri)
	if err != nil {
		return nil, WrapDevice(uri, err)
	}
	s.seal.opened(k.URI(), uri)
	return k, nil
}

// Close closes every device the session opened, and the journal of a run
// that did not Keep its keys.
func (s *Session) Close() {
	s.closeJournal()
	for _, k := range s.order {
		s.open[k].Close()
	}
}

// Software says whether a software token took part, or the environment
// declared a rehearsal: everything the session writes is then a
// rehearsal.
func (s *Session) Software() bool { return s.software }

// Devices are the devices opened so far, as the transcript records them.
func (s *Session) Devices() []bundle.Device { return s.devices }

// Progress reports one more item of a batch done.
func (s *Session) Progress(done, total int, item string) {
	if s.Env.Progress != nil {
		s.Env.Progress(done, total, item)
	}
}

// Begin starts the transcript, continuing prior when a ceremony extends
// the record of the bundle it started from. The ceremony.start line holds
// the command line, the devices opened so far and whether this is a
// rehearsal, plus fields.
func (s *Session) Begin(prior []byte, fields map[string]any) error {
	t, err := bundle.NewTranscript(prior, s.command, s.Now)
	if err != nil {
		return err
	}
	s.t = t
	ev := map[string]any{"args": s.Args, "devices": s.devices, "rehearsal": s.software}
	if err := s.startFacts(ev); err != nil {
		return err
	}
	if s.Trust != nil {
		ev["trust_dir"] = s.Trust.Dir
	}
	for k, v := range s.Env.Start {
		ev[k] = v
	}
	for k, v := range fields {
		ev[k] = v
	}
	if err := s.Record("ceremony.start", ev); err != nil {
		return err
	}
	for _, p := range s.pending {
		if err := s.Record(p.event, p.data); err != nil {
			return err
		}
	}
	s.pending = nil
	return nil
}

// Record appends an event to the transcript.
func (s *Session) Record(event string, data any) error {
	s.logger().Debug("transcript", "command", s.command, "event", event)
	s.seal.lastEvent = event
	return s.t.Append(event, data)
}

func (e Env) logger() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

// End appends the ceremony.end line; it names the keys that will seal the
// transcript (SealBy), if any.
func (s *Session) End(fields map[string]any) error {
	return s.Record("ceremony.end", s.endFields(fields))
}

// Transcript is the transcript so far.
func (s *Session) Transcript() []byte { return s.t.Bytes() }

// WrapDevice names the device in an error, never echoing a secret someone
// typed into its URI.
func WrapDevice(uri string, err error) error { return fmt.Errorf("%s: %w", hsm.Redact(uri), err) }
