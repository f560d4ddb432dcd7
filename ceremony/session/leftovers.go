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

// What a run does about the keys interrupted runs left on its devices:
// found through the journal, asked about once, removed or resumed.

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
