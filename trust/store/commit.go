package store

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/keyrite/keyrite/internal/fsutil"
	"golang.org/x/sys/unix"
)

// compactAbove: packs of fewer bytes in all are never compacted for
// their garbage; more than compactPacks packs (batches of a few GUNs
// each) are compacted into one.
const (
	compactAbove = 256 << 10
	compactPacks = 64
)

// commit makes st the store's state, durably, under the lock: the roots
// not in a pack yet go into one new pack (written under its final name,
// fsynced, packs/ fsynced), then state.json is written beside its place,
// fsynced, renamed into place, and the directory fsynced. The rename is
// the commit point: before it the store is what it was, the new pack a
// file nothing names; after it, all of st is in force.
//
// When the live roots are less than half the bytes of all packs (roots
// forgotten, or replaced by new bytes of the same version), or are spread
// over more than compactPacks packs, the new pack holds every live root
// instead, and the old packs are dropped once the state naming none of
// them is durable. The work is proportional to the live roots, and comes
// after at least as much written since the last compaction.
func (s *Store) commit(st *state) (err error) {
	renamed := false
	// What killed writers left goes first: the packs the state on disk
	// does not name (not the new state: a crash before the rename leaves
	// the state on disk in force).
	sizes, seq, err := s.tidy(st.base)
	if err != nil {
		return err
	}
	type place struct {
		gun string
		ref *rootRef
	}
	var fresh, all []place
	var live, total int64
	inUse := map[string]bool{}
	for _, g := range st.guns() {
		r := st.repos[g]
		for i := range r.Roots {
			p := place{g, &r.Roots[i]}
			all = append(all, p)
			live += p.ref.Length
			if p.ref.Pack == "" {
				fresh = append(fresh, p)
				total += p.ref.Length
			} else if !inUse[p.ref.Pack] {
				inUse[p.ref.Pack] = true
				total += sizes[p.ref.Pack]
			}
		}
	}
	if total > compactAbove && 2*live < total || len(inUse) > compactPacks {
		fresh = all
	}
	if len(fresh) > 0 {
		rd := s.newReader()
		var buf bytes.Buffer
		buf.Grow(int(live))
		for _, p := range fresh {
			b, err := rd.root(p.gun, p.ref)
			if err != nil {
				rd.close()
				return err
			}
			p.ref.Offset = int64(buf.Len())
			buf.Write(b)
		}
		rd.close()
		st.packs = max(st.packs, seq) + 1
		name := packFile(st.packs)
		if err := createSynced(s.packPath(name), buf.Bytes()); err != nil {
			return err
		}
		if err := fsutil.SyncDir(filepath.Join(s.Dir, packsDir)); err != nil {
			os.Remove(s.packPath(name))
			return err
		}
		for _, p := range fresh {
			p.ref.Pack, p.ref.data, p.ref.path = name, nil, ""
		}
		faultPoint("pack")
		defer func() {
			if !renamed {
				os.Remove(s.packPath(name)) // nothing names it
			}
		}()
	}
	if renamed, err = s.writeState(st); err != nil {
		return err
	}
	st.format1, st.base = false, nil
	s.remember(st)
	// Committed: what follows tidies, and a failure is left to the next
	// writer.
	s.finishFormat1()
	s.tidy(st)
	return nil
}

// writeState writes st as state.json: beside its place, fsynced, renamed
// into place, the directory fsynced. renamed: state.json is the new one
// (even if the directory's fsync failed).
func (s *Store) writeState(st *state) (renamed bool, err error) {
	b, err := st.encode()
	if err != nil {
		return false, err
	}
	tmp, err := fsutil.WriteTemp(s.statePath(), b)
	if err == nil {
		if err = syncFile(tmp); err != nil {
			os.Remove(tmp)
		}
	}
	if err != nil {
		return false, err
	}
	faultPoint("state")
	if err := unix.Rename(tmp, s.statePath()); err != nil {
		os.Remove(tmp)
		return false, &os.LinkError{Op: "rename", Old: tmp, New: s.statePath(), Err: err}
	}
	faultPoint("renamed")
	return true, fsutil.SyncDir(s.Dir)
}

// tidy removes what killed writers left (the lock is held, so no live
// writer owns any of it): state.json temporaries, and packs st does not
// name. It returns the sizes of the packs st names and the highest pack
// number seen.
func (s *Store) tidy(st *state) (map[string]int64, int64, error) {
	if _, err := fsutil.RemoveStalePartials(s.statePath()); err != nil {
		return nil, 0, err
	}
	named := map[string]int64{}
	seq := st.packs
	for _, r := range st.repos {
		for _, x := range r.Roots {
			if x.Pack != "" {
				named[x.Pack] = 0
				seq = max(seq, packSeq(x.Pack))
			}
		}
	}
	ents, err := os.ReadDir(filepath.Join(s.Dir, packsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, 0, err
	}
	for _, e := range ents {
		if !packName.MatchString(e.Name()) {
			continue
		}
		seq = max(seq, packSeq(e.Name()))
		if _, ok := named[e.Name()]; !ok {
			if err := os.Remove(s.packPath(e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, 0, err
			}
			continue
		}
		if fi, err := e.Info(); err == nil {
			named[e.Name()] = fi.Size()
		}
	}
	return named, seq, nil
}
