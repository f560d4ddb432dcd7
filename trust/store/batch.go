package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/trust"
	"golang.org/x/sys/unix"
)

// Update is one GUN's new pin in a batch: Root (raw root.json) and the
// roots it chains from (Chain, in version order, may be empty).
type Update struct {
	GUN            string
	Chain          [][]byte
	Root           []byte
	Source, Detail string
}

// staged is what a batch will write for one GUN.
type staged struct {
	dir     string
	existed bool         // the GUN's directory was there before the batch
	held    map[int]bool // root versions on disk before the batch
	version int          // the pinned version: on disk, then as the batch sets it
	roots   map[int][]byte
	pin     *Pin
}

// pending is a temporary file written and not yet renamed into place.
type pending struct{ tmp, final string }

// partialFile matches the temporaries a batch writes in a GUN's directory.
var partialFile = regexp.MustCompile(`^\.(pin\.json|[0-9]+\.root\.json)\.partial-[0-9]+$`)

// SetBatch pins each update's root, as Set does, for many GUNs at once
// (a GUN may appear more than once: the later update builds on the
// earlier). Every update is checked before anything is written: one
// refused (a version older than the pin, or a root that does not parse)
// leaves the whole batch unwritten.
//
// The crash guarantee is Set's: each file in the store is its old version
// or its new one whole, never torn or empty; a pin.json never names a root
// version that is not on disk; and every pin is durable when SetBatch
// returns. It costs three syncfs(2) of the store's filesystem per batch
// instead of two fsyncs per file: every temporary file is written, then
// synced; the roots are renamed into place, then synced; then the pins,
// then synced.
//
// Writers of one store take turns (a lock file, DIR/.lock), so a
// temporary found in a GUN's directory was left by a killed writer and is
// removed.
func (s *Store) SetBatch(ups []Update, now time.Time) ([]*Pin, error) {
	if len(ups) == 0 {
		return nil, nil
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	byGUN := map[string]*staged{}
	for _, u := range ups {
		st := byGUN[u.GUN]
		if st == nil {
			if st, err = s.load(u.GUN); err != nil {
				return nil, err
			}
			byGUN[u.GUN] = st
		}
		if err := st.add(u, now); err != nil {
			return nil, err
		}
	}
	guns := make([]string, 0, len(byGUN))
	for g := range byGUN {
		guns = append(guns, g)
	}
	sort.Strings(guns)
	roots, pins, err := s.writeTemps(guns, byGUN)
	if err != nil {
		return nil, err
	}
	if err := s.install(roots, pins); err != nil {
		return nil, err
	}
	out := make([]*Pin, len(ups))
	for i, u := range ups {
		st := byGUN[u.GUN]
		p := *st.pin
		for v := range st.held {
			p.Versions = append(p.Versions, v)
		}
		for v := range st.roots {
			if !st.held[v] {
				p.Versions = append(p.Versions, v)
			}
		}
		sort.Ints(p.Versions)
		out[i] = &p
	}
	return out, nil
}

// lock takes the store's write lock, making the store's directories if
// they are missing; the lock dies with the process.
func (s *Store) lock() (func(), error) {
	if err := os.MkdirAll(filepath.Join(s.Dir, "repos"), 0o700); err != nil {
		return nil, fmt.Errorf("trust store %s: %w", s.Dir, err)
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, ".lock"), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("trust store %s: %w", s.Dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.ENOLCK) {
		f.Close()
		return nil, fmt.Errorf("trust store %s: lock: %w", s.Dir, err)
	}
	return func() { f.Close() }, nil
}

// load reads what the store holds for gun: the versions held and the pin,
// in one pass over its directory, removing the temporaries a killed writer
// left (the store's lock is held, so no live writer owns one).
func (s *Store) load(gun string) (*staged, error) {
	st := &staged{dir: s.repoDir(gun), held: map[int]bool{}, roots: map[int][]byte{}}
	ents, err := os.ReadDir(st.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	st.existed = true
	for _, e := range ents {
		name := e.Name()
		if partialFile.MatchString(name) && e.Type().IsRegular() {
			os.Remove(filepath.Join(st.dir, name))
			continue
		}
		if n, ok := strings.CutSuffix(name, ".root.json"); ok {
			if v, err := strconv.Atoi(n); err == nil {
				st.held[v] = true
			}
		}
		if name == "pin.json" {
			p, err := s.readPin(gun)
			if err != nil {
				return nil, err
			}
			if p != nil {
				st.version = p.Version
			}
		}
	}
	return st, nil
}

// add stages one update, refusing a root older than the pin.
func (st *staged) add(u Update, now time.Time) error {
	v, err := trust.RootVersion(u.Root)
	if err != nil {
		return fmt.Errorf("%s: %w", u.GUN, err)
	}
	if v < st.version {
		return fmt.Errorf("%s: root version %d is older than version %d trusted here", u.GUN, v, st.version)
	}
	ids, err := rootKeyIDs(u.Root)
	if err != nil {
		return fmt.Errorf("%s: %w", u.GUN, err)
	}
	for _, r := range u.Chain {
		rv, err := trust.RootVersion(r)
		if err != nil {
			return fmt.Errorf("%s: %w", u.GUN, err)
		}
		st.roots[rv] = r
	}
	st.roots[v] = u.Root
	st.version = v
	st.pin = &Pin{GUN: u.GUN, Version: v, Source: u.Source, Detail: u.Detail, PinnedAt: now.UTC(), RootKeyIDs: ids}
	return nil
}

// writeTemps writes every file of the batch beside its place, without
// syncing, a few GUNs at a time (fsutil.Each: creating a file is the
// kernel's work, which both cores share): the roots' and the pins'
// temporaries. On failure nothing of the batch is left.
func (s *Store) writeTemps(guns []string, byGUN map[string]*staged) (roots, pins []pending, err error) {
	type written struct {
		made  bool // the GUN's directory was made by the batch
		roots []pending
		pin   pending
	}
	done := make([]written, len(guns))
	err = fsutil.Each(len(guns), func(i int) error {
		st, w := byGUN[guns[i]], &done[i]
		if !st.existed {
			if err := os.Mkdir(st.dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("trust store %s: %w", s.Dir, err)
			}
			w.made = true
		}
		for _, v := range slices.Sorted(maps.Keys(st.roots)) {
			p, err := writeTemp(filepath.Join(st.dir, fmt.Sprintf("%d.root.json", v)), st.roots[v])
			if err != nil {
				return err
			}
			w.roots = append(w.roots, p)
		}
		b, err := json.MarshalIndent(st.pin, "", "  ")
		if err != nil {
			return err
		}
		w.pin, err = writeTemp(filepath.Join(st.dir, "pin.json"), append(b, '\n'))
		return err
	})
	for i, w := range done {
		roots = append(roots, w.roots...)
		if w.pin.tmp != "" {
			pins = append(pins, w.pin)
		}
		if err != nil && w.made {
			defer os.Remove(byGUN[guns[i]].dir) // after its temporaries
		}
	}
	if err != nil {
		removeTemps(roots)
		removeTemps(pins)
		return nil, nil, err
	}
	faultPoint("written")
	return roots, pins, nil
}

func writeTemp(final string, data []byte) (pending, error) {
	tmp, err := fsutil.WriteTemp(final, data)
	if err != nil {
		return pending{}, err
	}
	return pending{tmp: tmp, final: final}, nil
}

// install makes the written temporaries durable, then renames them into
// place, the roots before the pins that name them, each step synced
// before the next.
func (s *Store) install(roots, pins []pending) error {
	if err := fsutil.SyncFS(s.Dir); err != nil {
		removeTemps(roots)
		removeTemps(pins)
		return err
	}
	for i, p := range roots {
		if err := rename(p); err != nil {
			removeTemps(roots[i:])
			removeTemps(pins)
			return err
		}
		faultPoint("root")
	}
	if err := fsutil.SyncFS(s.Dir); err != nil {
		removeTemps(pins)
		return err
	}
	for i, p := range pins {
		if err := rename(p); err != nil {
			removeTemps(pins[i:])
			return err
		}
		faultPoint("pin")
	}
	return fsutil.SyncFS(s.Dir)
}

// rename renames a temporary into place (without os.Rename's lstat of the
// target first: a directory there fails all the same).
func rename(p pending) error {
	if err := unix.Rename(p.tmp, p.final); err != nil {
		return &os.LinkError{Op: "rename", Old: p.tmp, New: p.final, Err: err}
	}
	return nil
}

func removeTemps(ps []pending) {
	for _, p := range ps {
		os.Remove(p.tmp)
	}
}
