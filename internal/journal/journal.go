// Package journal records the device objects (keys) a keyrite command
// creates, durably and before they exist, so that a command killed at any
// point leaves a record the next run can act on: remove what was left
// behind, or reuse it.
//
// A journal is one file per run in the journal directory (see Dir):
// <started>-<pid>-<random>.jsonl, one JSON record a line, each line
// fsynced before the device call it announces:
//
//	{"op":"begin","format":"keyrite-journal/v1","time":…,"command":"init","args":[…],"pid":4242,"out":"/abs/signed"}
//	{"op":"intent","time":…,"device":"pkcs11:token=ceremony;serial=…","serial":"…","label":"targets:example.com/app","purpose":"targets key of example.com/app"}
//	{"op":"created","time":…,"device":…,"serial":…,"label":…,"uri":"pkcs11:…;id=%…","key_id":"3f2a…"}
//	{"op":"removed","time":…,"device":…,"label":…}
//	{"op":"released","time":…,"device":…,"label":…,"reason":"reused by a later run"}
//
// intent is written before the device is asked to create the object (its
// label is checked free first), created once it exists; removed when the
// run (or a later one) destroyed it, released when the journal no longer
// answers for it. The run deletes its file when it succeeds: the objects
// then belong to what it wrote. A run holds an exclusive flock on its file
// while it lives, so a later run leaves the journal of a running keyrite
// alone; a killed run's lock dies with it.
package journal

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Format names the journal format in every begin record.
const Format = "keyrite-journal/v1"

// Ops of the records.
const (
	OpBegin    = "begin"
	OpIntent   = "intent"   // the object is about to be created
	OpCreated  = "created"  // the object exists: its URI and key ID
	OpRemoved  = "removed"  // the object was destroyed again
	OpReleased = "released" // the journal no longer answers for the object
)

// Record is one line of a journal.
type Record struct {
	Op     string    `json:"op"`
	Format string    `json:"format,omitempty"`
	Time   time.Time `json:"time"`
	// begin
	Command string   `json:"command,omitempty"`
	Args    []string `json:"args,omitempty"`
	PID     int      `json:"pid,omitempty"`
	Out     string   `json:"out,omitempty"`
	Backup  string   `json:"backup,omitempty"`
	// objects
	Device  string `json:"device,omitempty"`
	Serial  string `json:"serial,omitempty"`
	Label   string `json:"label,omitempty"`
	URI     string `json:"uri,omitempty"`
	KeyID   string `json:"key_id,omitempty"`
	Purpose string `json:"purpose,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Header says which run a journal belongs to.
type Header struct {
	Command string
	Args    []string
	PID     int
	Started time.Time
	// Out is the output the run writes last (absolute): once it exists the
	// run finished and its objects belong to it.
	Out string
	// Backup is the backup directory (absolute) that holds the key a
	// backed-up generation imports.
	Backup string
}

// Object is a device object a journal answers for.
type Object struct {
	Device  string `json:"device"` // URI of the device, as its backend describes it
	Serial  string `json:"serial,omitempty"`
	Label   string `json:"label"`
	URI     string `json:"uri,omitempty"`    // empty until created
	KeyID   string `json:"key_id,omitempty"` // canonical key ID, when known
	Purpose string `json:"purpose,omitempty"`
	Created bool   `json:"created"` // false: only the intent was recorded
}

// SameDevice says whether o is on the device with this URI and serial (a
// serial only one side knows, such as a softkey file not created yet,
// does not count against it).
func (o Object) SameDevice(uri, serial string) bool {
	return o.Device == uri && (o.Serial == "" || serial == "" || o.Serial == serial)
}

type objKey struct{ device, label string }

// DefaultDir is where journals live: $XDG_STATE_HOME/keyrite/journal, or
// ~/.local/state/keyrite/journal without XDG_STATE_HOME.
func DefaultDir() (string, error) {
	if x := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "keyrite", "journal"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || !filepath.IsAbs(home) {
		return "", errors.New("no state directory: neither XDG_STATE_HOME nor HOME is set to an absolute path")
	}
	return filepath.Join(home, ".local", "state", "keyrite", "journal"), nil
}

// Journal is one run's journal file, open and locked.
type Journal struct {
	f      *os.File
	path   string
	Header Header
	live   map[objKey]Object
	order  []objKey
}

// Create starts the journal of a run in dir (made 0700 if missing).
func Create(dir string, h Header) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	if h.Started.IsZero() {
		h.Started = time.Now()
	}
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	name := fmt.Sprintf("%s-%d-%s.jsonl", h.Started.UTC().Format("20060102T150405Z"), h.PID, hex.EncodeToString(rnd[:]))
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		os.Remove(p)
		return nil, fmt.Errorf("journal %s: lock: %w", p, err)
	}
	j := &Journal{f: f, path: p, Header: h, live: map[objKey]Object{}}
	err = j.append(Record{Op: OpBegin, Format: Format, Time: h.Started.UTC(), Command: h.Command, Args: h.Args,
		PID: h.PID, Out: h.Out, Backup: h.Backup}, true)
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		f.Close()
		os.Remove(p)
		return nil, fmt.Errorf("journal %s: %w", p, err)
	}
	return j, nil
}

// Path is the journal's file.
func (j *Journal) Path() string { return j.path }

// Objects are the objects the journal still answers for, in the order
// they were announced.
func (j *Journal) Objects() []Object {
	var out []Object
	for _, k := range j.order {
		if o, ok := j.live[k]; ok {
			out = append(out, o)
		}
	}
	return out
}

// Intent records that o is about to be created; it is on disk when Intent
// returns.
func (j *Journal) Intent(o Object) error {
	o.Created = false
	return j.record(OpIntent, o, "")
}

// IntentAll records that every one of objs is about to be created, in one
// write and one fsync: a batch announced before its first key is made.
func (j *Journal) IntentAll(objs []Object) error {
	var buf []byte
	rs := make([]Record, len(objs))
	for i, o := range objs {
		rs[i] = Record{Op: OpIntent, Time: time.Now().UTC(), Device: o.Device, Serial: o.Serial, Label: o.Label, KeyID: o.KeyID, Purpose: o.Purpose}
		line, err := json.Marshal(rs[i])
		if err != nil {
			return err
		}
		buf = append(append(buf, line...), '\n')
	}
	if _, err := j.f.Write(buf); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	for _, r := range rs {
		j.apply(r)
	}
	return nil
}

// Created records that o exists, with its URI and key ID. Its line is
// written but not fsynced: the intent before it is what a later run needs
// (a key found under an announced label is this run's); the line reaches
// the disk with the next record that is fsynced, or when the system
// writes it, and a power cut before then only loses the key ID that run
// would compare.
func (j *Journal) Created(o Object) error {
	o.Created = true
	return j.recordSync(OpCreated, o, "", false)
}

// Removed records that o was destroyed.
func (j *Journal) Removed(o Object) error { return j.record(OpRemoved, o, "") }

// Released records that the journal no longer answers for o, and why.
func (j *Journal) Released(o Object, reason string) error { return j.record(OpReleased, o, reason) }

func (j *Journal) record(op string, o Object, reason string) error {
	return j.recordSync(op, o, reason, true)
}

func (j *Journal) recordSync(op string, o Object, reason string, sync bool) error {
	r := Record{Op: op, Time: time.Now().UTC(), Device: o.Device, Serial: o.Serial, Label: o.Label, URI: o.URI,
		KeyID: o.KeyID, Purpose: o.Purpose, Reason: reason}
	if err := j.append(r, sync); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	j.apply(r)
	return nil
}

func (j *Journal) append(r Record, sync bool) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(line, '\n')); err != nil {
		return err
	}
	if !sync {
		return nil
	}
	return j.f.Sync()
}

// apply replays one record onto the live objects.
func (j *Journal) apply(r Record) {
	k := objKey{r.Device, r.Label}
	switch r.Op {
	case OpIntent, OpCreated:
		if _, ok := j.live[k]; !ok {
			j.order = append(j.order, k)
		}
		prev := j.live[k]
		o := Object{Device: r.Device, Serial: r.Serial, Label: r.Label, URI: r.URI, KeyID: r.KeyID, Purpose: r.Purpose,
			Created: r.Op == OpCreated}
		if o.Purpose == "" {
			o.Purpose = prev.Purpose
		}
		if o.KeyID == "" {
			o.KeyID = prev.KeyID
		}
		j.live[k] = o
	case OpRemoved, OpReleased:
		delete(j.live, k)
	}
}

// Remove deletes the journal (the run is over: it succeeded, or nothing it
// created is left) and releases it.
func (j *Journal) Remove() error {
	err := os.Remove(j.path)
	if err == nil {
		err = syncDir(filepath.Dir(j.path))
	}
	j.f.Close()
	return err
}

// Close releases the journal and keeps its file: objects are left for a
// later run to deal with.
func (j *Journal) Close() error { return j.f.Close() }

// CorruptError is a journal line that cannot be read (other than a last
// line cut short by a crash, which is ignored: its fsync never returned,
// so the device call it announced was never made).
type CorruptError struct {
	Path string
	Line int
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("journal %s: line %d is not a journal record", e.Path, e.Line)
}

// Scan opens and locks the journals of runs that are over in dir (a
// missing dir has none). Journals of running keyrite processes (locked)
// are left alone and named in busy. A journal that answers for nothing any
// more is deleted. The caller closes or removes every journal returned.
func Scan(dir string) (found []*Journal, busy []string, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	sort.Slice(entries, func(a, b int) bool { return entries[a].Name() < entries[b].Name() })
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".jsonl") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		j, isBusy, err := open(p)
		if err != nil {
			for _, f := range found {
				f.Close()
			}
			return nil, nil, err
		}
		switch {
		case isBusy:
			busy = append(busy, p)
		case j == nil:
		case len(j.live) == 0:
			j.Remove()
		default:
			found = append(found, j)
		}
	}
	return found, busy, nil
}

// open opens and locks one journal and replays it; nil, false, nil for a
// file that went away meanwhile.
func open(p string) (*Journal, bool, error) {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("journal: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("journal %s: lock: %w", p, err)
	}
	// Another run may have deleted it between our open and our lock.
	var st1, st2 unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st1) != nil || unix.Stat(p, &st2) != nil || st1.Ino != st2.Ino {
		f.Close()
		return nil, false, nil
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("journal %s: %w", p, err)
	}
	j := &Journal{f: f, path: p, live: map[objKey]Object{}}
	if err := j.replay(data); err != nil {
		f.Close()
		return nil, false, err
	}
	return j, false, nil
}

func (j *Journal) replay(data []byte) error {
	torn := len(data) > 0 && data[len(data)-1] != '\n'
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	lines := bytes.Count(data, []byte("\n"))
	for sc.Scan() {
		n++
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			if torn && n == lines+1 {
				break // cut short by a crash: never acted on
			}
			return &CorruptError{Path: j.path, Line: n}
		}
		if n == 1 {
			if r.Op != OpBegin || r.Format != Format {
				return &CorruptError{Path: j.path, Line: 1}
			}
			j.Header = Header{Command: r.Command, Args: r.Args, PID: r.PID, Started: r.Time, Out: r.Out, Backup: r.Backup}
			continue
		}
		if torn && n == lines+1 {
			break // a complete record without its newline: its fsync did not return either
		}
		j.apply(r)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if n == 0 {
		// Killed before the begin record reached the disk: nothing was
		// announced, so nothing was created.
		j.Header = Header{}
	}
	return nil
}

// syncDir fsyncs a directory so a file created or removed in it is
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return err
	}
	return nil
}
