package session

import (
	"context"
	"fmt"
	"path/filepath"
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

// CreatingAll is Creating for a batch: every label announced on b in one
// fsync, before the first of them is made. Labels of the batch that are
// never made are let go with ReleaseUnmade.
func (s *Session) CreatingAll(b hsm.Backend, labels, purposes []string) error {
	j, err := s.ensureJournal()
	if err != nil || len(labels) == 0 {
		return err
	}
	// A store that rewrites itself for every key saves the batch's once,
	// before the first output is sealed (saveBatches).
	if bs, ok := b.(hsm.BatchSaver); ok {
		bs.SaveLater()
		s.unsaved = append(s.unsaved, bs)
	}
	if j == nil {
		return nil
	}
	objs := make([]journal.Object, len(labels))
	for i, l := range labels {
		objs[i] = journalObject(b, l)
		objs[i].Purpose = purposes[i]
	}
	return j.IntentAll(objs)
}

// ReleaseUnmade lets go of labels a batch announced but never asked the
// device for (the run stopped before their turn).
func (s *Session) ReleaseUnmade(b hsm.Backend, labels []string) {
	if s.journal == nil {
		return
	}
	for _, l := range labels {
		s.journal.Released(journalObject(b, l), "not created")
	}
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
	if err := s.saveBatches(); err != nil {
		return err
	}
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

// saveBatches stores the keys of every batch whose device saves at once
// (see CreatingAll). Until then they exist only in memory: a run that
// fails before it leaves nothing behind.
func (s *Session) saveBatches() error {
	for len(s.unsaved) > 0 {
		b := s.unsaved[0]
		if err := b.Save(); err != nil {
			return fmt.Errorf("saving the keys this run made: %w", err)
		}
		s.unsaved = s.unsaved[1:]
	}
	return nil
}
