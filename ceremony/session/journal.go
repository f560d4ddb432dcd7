package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/journal"
	"github.com/keyrite/keyrite/trust"
)

// The journal: every key a command creates on a device is announced in the
// run's journal (internal/journal) before the device is asked, and marked
// created once it exists. A run that succeeds deletes its journal; one
// killed at any point leaves it, and the next run that creates keys on the
// same device finds the keys it names, asks once whether to remove them or
// reuse them (Leftovers), and records the answer in its transcript.

// LeftoverAction answers in advance the question about keys an interrupted
// run left.
type LeftoverAction string

// Answers to the leftovers question.
const (
	LeftoversAsk    LeftoverAction = ""       // ask through Env.Confirm
	LeftoversRemove LeftoverAction = "remove" // destroy them all
	LeftoversResume LeftoverAction = "resume" // reuse those the run can use, destroy the others
)

// Leftover is a key an interrupted run left on a device, as its journal
// names it and the device shows it.
type Leftover struct {
	Device  string    `json:"device"`
	Label   string    `json:"label"`
	URI     string    `json:"uri"`
	KeyID   string    `json:"key_id,omitempty"`
	Purpose string    `json:"purpose,omitempty"`
	Command string    `json:"command"` // the interrupted run's
	Started time.Time `json:"started"`
	Journal string    `json:"journal"`
	// Partial is an object whose creation was cut short (no public key):
	// it can only be removed.
	Partial bool `json:"partial,omitempty"`
	// Reuse says that resuming reuses it (the others are destroyed).
	Reuse bool `json:"reuse,omitempty"`

	obj journal.Object
	j   *journal.Journal
	b   hsm.Backend
}

// released is a journal entry a run let go of without asking: the key is
// gone, is another key, or belongs to what its run wrote.
type released struct {
	Device string `json:"device"`
	Label  string `json:"label"`
	URI    string `json:"uri,omitempty"`
	KeyID  string `json:"key_id,omitempty"`
	Reason string `json:"reason"`

	obj journal.Object
	j   *journal.Journal
}

// release lets the journal entries go.
func release(let []released) error {
	for _, r := range let {
		if err := r.j.Released(r.obj, r.Reason); err != nil {
			return err
		}
	}
	return nil
}

// LeftoversError is keys an interrupted run left that the operator did not
// decide about: nothing was done.
type LeftoversError struct {
	Leftovers []Leftover
	Typed     string // what was typed instead of an answer
	Err       error  // why nobody could be asked; nil when someone declined
}

func (e *LeftoversError) Error() string {
	var names []string
	for _, l := range e.Leftovers {
		names = append(names, fmt.Sprintf("%q (%s)", l.Label, l.URI))
	}
	msg := fmt.Sprintf("an interrupted run left %d key(s) that its journal says it created: %s; they were left as they are, nothing was done",
		len(e.Leftovers), strings.Join(names, ", "))
	switch {
	case e.Err != nil:
		msg += fmt.Sprintf(" (the question could not be asked: %v)", e.Err)
	case e.Typed != "":
		msg += fmt.Sprintf(" (answer %q)", e.Typed)
	}
	return msg
}

func (e *LeftoversError) Unwrap() error { return e.Err }

// JournalFor says what the keys this run creates will belong to, for a
// later run that finds them: out, the output written last (once it exists
// the run finished), or backupDir, the backup holding the key a backed-up
// generation imports. Call it before Creating.
func (s *Session) JournalFor(out, backupDir string) {
	s.jhead.Out, s.jhead.Backup = absOrEmpty(out), absOrEmpty(backupDir)
}

func absOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func (s *Session) ensureJournal() (*journal.Journal, error) {
	if s.journal != nil || s.Journal == "" {
		return s.journal, nil
	}
	h := s.jhead
	h.Command, h.Args, h.Started = s.command, s.Args, time.Now()
	j, err := journal.Create(s.Journal, h)
	if err != nil {
		return nil, &JournalError{Dir: s.Journal, Err: err}
	}
	s.journal = j
	return j, nil
}

// JournalError is a journal that cannot be kept: the run stops before it
// creates anything a crash could leave unrecorded.
type JournalError struct {
	Dir string
	Err error
}

func (e *JournalError) Error() string {
	return fmt.Sprintf("cannot keep the journal of the keys this run creates in %s: %v; nothing was created", e.Dir, e.Err)
}

func (e *JournalError) Unwrap() error { return e.Err }

func journalObject(b hsm.Backend, label string) journal.Object {
	info := b.Info()
	return journal.Object{Device: info.URI, Serial: info.Serial, Label: label}
}

// Creating records, on disk before it returns, that this run is about to
// create a key labelled label on b (keyID when it is known in advance, as
// for an import). The caller has checked that the label is free, so that a
// key found later under this label is the one this run made.
func (s *Session) Creating(b hsm.Backend, label, keyID, purpose string) error {
	j, err := s.ensureJournal()
	if j == nil || err != nil {
		return err
	}
	o := journalObject(b, label)
	o.KeyID, o.Purpose = keyID, purpose
	return j.Intent(o)
}

// Created records that the key Creating announced exists.
func (s *Session) Created(b hsm.Backend, label string, k hsm.Key) error {
	j, err := s.ensureJournal()
	if j == nil || err != nil {
		return err
	}
	o := journalObject(b, label)
	o.URI = k.URI()
	if pub, err := trust.PublicKey(k.Public()); err == nil {
		o.KeyID = pub.ID()
	}
	return j.Created(o)
}

// NotCreated is called when creating the key Creating announced failed:
// if the device holds no key under its label (the backend rolled back, or
// never began), the journal lets it go; otherwise the key stays in the
// journal for the next run. It works on a context of its own: an
// interrupted run gets here too.
func (s *Session) NotCreated(ctx context.Context, b hsm.Backend, label string) {
	if s.journal == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	keys, err := labelled(ctx, b)
	if err != nil {
		return
	}
	if _, held := keys[label]; !held {
		s.journal.Released(journalObject(b, label), "not created")
	}
}

// Destroyed records that a key this run created (or reused) was destroyed
// again.
func (s *Session) Destroyed(b hsm.Backend, label string) error {
	if s.journal == nil {
		return nil
	}
	return s.journal.Removed(journalObject(b, label))
}

// Keep ends the run's journal when the run succeeded: the keys it created
// belong to what it wrote (or reported) from now on.
func (s *Session) Keep() error {
	if s.journal == nil {
		return nil
	}
	j := s.journal
	s.journal = nil
	return j.Remove()
}

// closeJournal leaves the journal of a run that did not succeed: deleted
// when nothing it created is left, kept for the next run otherwise.
func (s *Session) closeJournal() {
	if s.journal == nil {
		return
	}
	if len(s.journal.Objects()) == 0 {
		s.journal.Remove()
	} else {
		s.journal.Close()
	}
	s.journal = nil
}

// Leftovers finds the keys interrupted runs left on these devices, asks
// once what to do with them (unless Env.Leftovers answers in advance) and
// does it: remove destroys them all; resume reuses those reusable accepts
// (nil: none) and destroys the others. It returns the reused keys by
// label: this run's journal answers for them from then on. Entries whose
// key is gone, is another key, or belongs to the output its run finished
// are let go of without a question. Journals of other devices and of
// running keyrite processes are left alone. The answer and the keys go
// into the transcript.
func (s *Session) Leftovers(ctx context.Context, backends []hsm.Backend, reusable func(Leftover) bool) (map[string]Leftover, error) {
	if s.Journal == "" {
		return nil, nil
	}
	found, _, err := journal.Scan(s.Journal)
	if err != nil {
		return nil, &JournalError{Dir: s.Journal, Err: err}
	}
	defer func() {
		for _, j := range found {
			if len(j.Objects()) == 0 {
				j.Remove()
			} else {
				j.Close()
			}
		}
	}()
	var left []Leftover
	var let []released
	lists := map[hsm.Backend]map[string]hsm.KeyInfo{}
	for _, j := range found {
		for _, o := range j.Objects() {
			b := deviceOf(backends, o)
			if b == nil {
				continue // another device's: not this run's business
			}
			keys, ok := lists[b]
			if !ok {
				if keys, err = labelled(ctx, b); err != nil {
					return nil, WrapDevice(b.Info().URI, err)
				}
				lists[b] = keys
			}
			l, why := classifyLeftover(j, o, keys)
			if why != "" {
				let = append(let, released{Device: o.Device, Label: o.Label, URI: o.URI, KeyID: o.KeyID, Reason: why, obj: o, j: j})
				continue
			}
			l.b = b
			l.Reuse = reusable != nil && !l.Partial && reusable(*l)
			left = append(left, *l)
		}
	}
	if len(left) == 0 {
		if len(let) > 0 {
			if err := release(let); err != nil {
				return nil, err
			}
			return nil, s.record("leftovers", map[string]any{"released": let})
		}
		return nil, nil
	}
	// Nothing changes, not even the journal, until the question is
	// answered.
	action, answered, err := s.leftoverAction(left)
	if err != nil {
		return nil, err
	}
	if err := release(let); err != nil {
		return nil, err
	}
	reused, err := s.settle(ctx, left, action)
	if err != nil {
		return nil, err
	}
	return reused, s.record("leftovers", map[string]any{"decision": action, "answered": answered, "keys": left, "released": let})
}

// deviceOf is the backend of the device a journal entry names, or nil.
func deviceOf(backends []hsm.Backend, o journal.Object) hsm.Backend {
	for _, b := range backends {
		if info := b.Info(); o.SameDevice(info.URI, info.Serial) {
			return b
		}
	}
	return nil
}

// labelled lists a device's keys by label.
func labelled(ctx context.Context, b hsm.Backend) (map[string]hsm.KeyInfo, error) {
	keys, err := b.List(ctx)
	if errors.Is(err, hsm.ErrNotFound) {
		return nil, nil // a softkey file that does not exist (any more)
	}
	if err != nil {
		return nil, err
	}
	out := map[string]hsm.KeyInfo{}
	for _, k := range keys {
		out[k.Label] = k
	}
	return out, nil
}

// classifyLeftover looks at what the device holds under a journal entry's
// label: a leftover, or the reason to let the entry go.
func classifyLeftover(j *journal.Journal, o journal.Object, keys map[string]hsm.KeyInfo) (*Leftover, string) {
	ki, ok := keys[o.Label]
	if !ok {
		return nil, "gone: the device holds no key with this label (removed by hand, or never created)"
	}
	id := ""
	if ki.Public != nil {
		if pub, err := trust.PublicKey(ki.Public); err == nil {
			id = pub.ID()
		}
	}
	if o.KeyID != "" && id != "" && id != o.KeyID {
		return nil, fmt.Sprintf("the device's key with this label is another key (%s), not the one the journal names", id)
	}
	if out := j.Header.Out; out != "" && exists(out) {
		return nil, "belongs to " + out + ", which its run finished"
	}
	if bk := j.Header.Backup; bk != "" && exists(bk) && id != "" && id == o.KeyID {
		return nil, "a copy of the key backed up in " + bk
	}
	return &Leftover{Device: o.Device, Label: o.Label, URI: ki.URI, KeyID: id, Purpose: o.Purpose, Command: j.Header.Command,
		Started: j.Header.Started, Journal: j.Path(), Partial: ki.Public == nil, obj: o, j: j}, ""
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// leftoverAction is the answer given in advance, or asked once.
func (s *Session) leftoverAction(left []Leftover) (LeftoverAction, string, error) {
	if s.Env.Leftovers != LeftoversAsk {
		return s.Env.Leftovers, "in advance", nil
	}
	anyReuse := false
	for _, l := range left {
		anyReuse = anyReuse || l.Reuse
	}
	c := Confirmation{Action: LeftoversQuestion(left), What: "answer", Want: string(LeftoversRemove),
		Prompt: "Type remove to destroy them, or anything else to stop and leave them: "}
	if anyReuse {
		c.Prompt = "Type remove to destroy them, resume to reuse the ones marked (and destroy the others), or anything else to stop and leave them: "
	}
	if s.Confirm == nil {
		return "", "", &LeftoversError{Leftovers: left, Err: errors.New("no way to ask")}
	}
	got, err := s.Confirm(c)
	var ce *ConfirmationError
	if errors.As(err, &ce) && ce.Typed == "" {
		err = errors.New("nobody to answer it")
	}
	if err != nil {
		return "", "", &LeftoversError{Leftovers: left, Err: err}
	}
	switch got = strings.TrimSpace(got); {
	case got == string(LeftoversRemove):
		return LeftoversRemove, "typed", nil
	case got == string(LeftoversResume) && anyReuse:
		return LeftoversResume, "typed", nil
	}
	return "", "", &LeftoversError{Leftovers: left, Typed: got}
}

// LeftoversQuestion is what the operator is told before the question.
func LeftoversQuestion(left []Leftover) string {
	var b strings.Builder
	fmt.Fprintf(&b, "an interrupted keyrite run left %d key(s) that its journal says it created:", len(left))
	for _, l := range left {
		fmt.Fprintf(&b, "\n  %s\n      label %q", l.URI, l.Label)
		if l.KeyID != "" {
			fmt.Fprintf(&b, ", key ID %s", l.KeyID)
		}
		if l.Purpose != "" {
			fmt.Fprintf(&b, " (%s)", l.Purpose)
		}
		fmt.Fprintf(&b, "; by %q started %s", l.Command, l.Started.UTC().Format(time.RFC3339))
		switch {
		case l.Partial:
			b.WriteString("; its creation was cut short")
		case l.Reuse:
			b.WriteString("; resume reuses it")
		}
	}
	fmt.Fprintf(&b, "\n  (journal %s)", filepath.Dir(left[0].Journal))
	return b.String()
}

// settle carries out the decision; the reused keys are returned by label.
func (s *Session) settle(ctx context.Context, left []Leftover, action LeftoverAction) (map[string]Leftover, error) {
	reused := map[string]Leftover{}
	for _, l := range left {
		if action == LeftoversResume && l.Reuse {
			j, err := s.ensureJournal()
			if err != nil {
				return nil, err
			}
			if j != nil {
				o := l.obj
				o.URI, o.KeyID = l.URI, l.KeyID
				if err := j.Created(o); err != nil {
					return nil, err
				}
			}
			if err := l.j.Released(l.obj, "reused by a later run"); err != nil {
				return nil, err
			}
			reused[l.Label] = l
			continue
		}
		if err := l.b.Delete(ctx, l.URI); err != nil && !errors.Is(err, hsm.ErrNotFound) {
			return nil, WrapDevice(l.URI, fmt.Errorf("removing a key an interrupted run left: %w", err))
		}
		if err := l.j.Removed(l.obj); err != nil {
			return nil, err
		}
		s.logf("removed the key an interrupted run left: %s", l.URI)
	}
	for _, l := range reused {
		s.logf("resuming with the key an interrupted run left: %s", l.URI)
	}
	return reused, nil
}

// HoldsLabel says whether a device holds a key with this label.
func HoldsLabel(ctx context.Context, b hsm.Backend, label string) (bool, error) {
	keys, err := labelled(ctx, b)
	_, held := keys[label]
	return held, err
}

func (s *Session) logf(format string, args ...any) {
	if s.HSM.Log != nil {
		fmt.Fprintf(s.HSM.Log, "keyrite: "+format+"\n", args...)
	}
}

// record appends an event to the transcript, or keeps it for Begin when
// the transcript has not begun.
func (s *Session) record(event string, data any) error {
	if s.t == nil {
		s.pending = append(s.pending, pendingEvent{event, data})
		return nil
	}
	return s.Record(event, data)
}

type pendingEvent struct {
	event string
	data  any
}
