package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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

// SetBatch pins each update's root, as Set does, for many GUNs at once
// (a GUN may appear more than once: the later update builds on the
// earlier). Every update is checked before anything is written: one
// refused (a version older than the pin, or a root that does not parse)
// leaves the whole batch unwritten.
//
// A batch is all or nothing, and durable when SetBatch returns: the roots
// it adds go into one new pack, written and fsynced, then state.json is
// written beside its place, fsynced, and renamed into place (the commit
// point), and the directory fsynced (commit.go). A crash before the
// rename leaves the store as it was; after it, every pin of the batch is
// in force. The cost is constant per batch: two files, four fsyncs.
//
// Writers of one store take turns (a lock file, DIR/.lock), so a pack
// state.json does not name, or a state.json temporary, was left by a
// killed writer and is removed.
func (s *Store) SetBatch(ups []Update, now time.Time) ([]*Pin, error) {
	if len(ups) == 0 {
		return nil, nil
	}
	st, err := s.write(func(st *state) error {
		for _, u := range ups {
			if err := st.stage(u, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Pin, len(ups))
	for i, u := range ups {
		out[i] = st.repos[u.GUN].pin()
	}
	return out, nil
}

// stage applies one update to st, refusing a root older than the pin.
func (st *state) stage(u Update, now time.Time) error {
	if u.GUN == "" {
		return errors.New("a root to pin has no GUN")
	}
	v, ids, err := rootInfo(u.Root)
	if err != nil {
		return fmt.Errorf("%s: %w", u.GUN, err)
	}
	r := st.repos[u.GUN]
	if r != nil && v < r.Version {
		return fmt.Errorf("%s: root version %d is older than version %d trusted here", u.GUN, v, r.Version)
	}
	add := map[int][]byte{v: u.Root}
	for _, b := range u.Chain {
		rv, err := trust.RootVersion(b)
		if err != nil {
			return fmt.Errorf("%s: %w", u.GUN, err)
		}
		if rv != v {
			add[rv] = b
		}
	}
	for rv, b := range add {
		if len(b) > maxRoot {
			return fmt.Errorf("%s: root version %d is %d bytes, more than the %d a trust store holds", u.GUN, rv, len(b), maxRoot)
		}
	}
	if r == nil {
		r = &repo{Pin: Pin{GUN: u.GUN}}
		st.repos[u.GUN] = r
	}
	for rv, b := range add {
		r.put(rv, b)
	}
	r.Pin = Pin{GUN: u.GUN, Version: v, Source: u.Source, Detail: u.Detail, PinnedAt: now.UTC(), RootKeyIDs: ids}
	return nil
}

// put holds b as root version v: a version held with the same bytes is
// kept where it is; new bytes go into the batch's pack.
func (r *repo) put(v int, b []byte) {
	ref := rootRef{Version: v, Length: int64(len(b)), SHA256: sha256Hex(b), data: b}
	i, held := slices.BinarySearchFunc(r.Roots, v, func(x rootRef, v int) int { return x.Version - v })
	switch {
	case !held:
		r.Roots = slices.Insert(r.Roots, i, ref)
	case r.Roots[i].SHA256 != ref.SHA256 || r.Roots[i].Length != ref.Length:
		r.Roots[i] = ref
	}
}

// write is the one way the store changes: under the lock, change is
// applied to the state read again from disk, and the result committed
// (commit.go). When change fails, nothing is written.
func (s *Store) write(change func(*state) error) (*state, error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := s.loadForWrite()
	if err != nil {
		return nil, err
	}
	if err := change(st); err != nil {
		return nil, err
	}
	return st, s.commit(st)
}

// lock takes the store's write lock, making the store's directories if
// they are missing; the lock dies with the process.
func (s *Store) lock() (func(), error) {
	packs := filepath.Join(s.Dir, packsDir)
	if _, err := os.Lstat(packs); errors.Is(err, fs.ErrNotExist) {
		_, noStore := os.Lstat(s.Dir)
		if err := os.MkdirAll(packs, 0o700); err != nil {
			return nil, fmt.Errorf("trust store %s: %w", s.Dir, err)
		}
		// Made now: durable before anything is named in them (a commit
		// syncs the store's directory only after its state is renamed).
		if errors.Is(noStore, fs.ErrNotExist) {
			if err := fsutil.SyncDir(filepath.Dir(s.Dir)); err != nil {
				return nil, err
			}
		}
		if err := fsutil.SyncDir(s.Dir); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, ".lock"), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("trust store %s: %w", s.Dir, err)
	}
	if err := s.flock(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// loadForWrite is the store's state for a writer holding the lock: read
// again from disk (another process may have written since), as a clone to
// change. A format-1 store is loaded whole, roots and all, for the commit
// to migrate. The clone's base is the state on disk.
func (s *Store) loadForWrite() (*state, error) {
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	if st.format1 {
		if st, err = s.loadFormat1(true); err != nil {
			return nil, err
		}
	}
	return st.clone(), nil
}
