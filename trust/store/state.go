package store

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"

	"github.com/keyrite/keyrite/internal/fsutil"
	"golang.org/x/sys/unix"
)

// stateName is the store's state: its commit point (see commit.go).
const stateName = "state.json"

// formatMark opens state.json: a store of another format is refused, not
// misread.
const formatMark = "keyrite-trust-store/2"

// maxState bounds state.json: about 400 bytes per GUN and 150 per root
// held, so 256 MiB is over half a million GUNs.
const maxState = 256 << 20

// stateFile is state.json.
type stateFile struct {
	Format string  `json:"format"`
	Packs  int64   `json:"packs"` // the highest pack number written: never reused
	Repos  []*repo `json:"repos"` // by GUN
}

// repo is what the store holds for one GUN: its pin and the roots held.
type repo struct {
	Pin             // without Versions: the Roots' versions
	Roots []rootRef `json:"roots"` // by version
}

// rootRef is where a root version's bytes are: a place in a pack, and
// what they must hash to.
type rootRef struct {
	Version int    `json:"version"`
	Pack    string `json:"pack"`
	Offset  int64  `json:"offset"`
	Length  int64  `json:"length"`
	SHA256  string `json:"sha256"`

	data []byte // not in a pack yet: the next commit writes it
	path string // a format-1 root file, read as it is
}

// state is the store's content in memory. A state that a Store caches is
// never changed: a writer changes a clone (loadForWrite).
type state struct {
	repos   map[string]*repo
	packs   int64  // stateFile.Packs
	format1 bool   // a format-1 store: read per GUN from its files (migrate.go)
	base    *state // a writer's: the state on disk it changes (loadForWrite)
}

// fileID is what says state.json is the file a cached state was read
// from: a rename of a new state changes its inode, a rewrite in place its
// size or modification time.
type fileID struct {
	dev, ino, size uint64
	mtime, ctime   int64
}

func idOf(st *unix.Stat_t) fileID {
	return fileID{dev: uint64(st.Dev), ino: st.Ino, size: uint64(st.Size), mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}
}

func (s *Store) statePath() string { return filepath.Join(s.Dir, stateName) }

// current returns the store's state: the cached one while state.json is
// the file it was read from, else read again. A store without state.json
// is empty, or a format-1 store (format1 set, nothing loaded).
func (s *Store) current() (*state, error) {
	var lst unix.Stat_t
	err := unix.Lstat(s.statePath(), &lst)
	if errors.Is(err, unix.ENOENT) {
		return s.withoutState()
	}
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: s.statePath(), Err: err}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache != nil && s.cacheID == idOf(&lst) {
		return s.cache, nil
	}
	st, id, err := s.readState()
	if err != nil {
		return nil, err
	}
	s.cache, s.cacheID = st, id
	return st, nil
}

// remember caches the state a commit just made durable.
func (s *Store) remember(st *state) {
	var lst unix.Stat_t
	s.mu.Lock()
	defer s.mu.Unlock()
	if unix.Lstat(s.statePath(), &lst) == nil {
		s.cache, s.cacheID = st, idOf(&lst)
	} else {
		s.cache = nil
	}
}

// readState reads and checks state.json, with the identity of the file
// read.
func (s *Store) readState() (*state, fileID, error) {
	f, err := fsutil.Open(s.statePath(), fsutil.ReadOptions{Max: maxState, NoSymlink: true, Private: true, What: "trust store state"})
	if err != nil {
		return nil, fileID{}, err
	}
	defer f.Close()
	var ust unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &ust); err != nil {
		return nil, fileID{}, &fs.PathError{Op: "stat", Path: s.statePath(), Err: err}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxState+1))
	if err != nil {
		return nil, fileID{}, err
	}
	if len(b) > maxState {
		return nil, fileID{}, &fsutil.TooLargeError{Path: s.statePath(), What: "trust store state", Size: int64(len(b)), Max: maxState}
	}
	st, err := s.parseState(b)
	return st, idOf(&ust), err
}

// parseState parses state.json and checks everything a read relies on:
// each GUN once, its pin a version held, each root a place within a pack
// of packs/ (no other path), of a length a root may have, with a SHA-256.
func (s *Store) parseState(b []byte) (*state, error) {
	bad := func(format string, a ...any) error {
		return &DamagedError{Dir: s.Dir, Path: s.statePath(), Reason: fmt.Sprintf(format, a...)}
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, bad("it does not parse: %v", err)
	}
	if f.Format != formatMark {
		return nil, bad("its format is %q, not %q (a keyrite that knows it is needed)", f.Format, formatMark)
	}
	st := &state{repos: make(map[string]*repo, len(f.Repos)), packs: f.Packs}
	for _, r := range f.Repos {
		if r == nil || r.GUN == "" || st.repos[r.GUN] != nil {
			return nil, bad("a GUN is empty or listed twice")
		}
		for i, x := range r.Roots {
			switch {
			case x.Version < 1 || i > 0 && x.Version <= r.Roots[i-1].Version:
				return nil, bad("%s: its root versions are not in order", r.GUN)
			case !packName.MatchString(x.Pack) || packSeq(x.Pack) > f.Packs:
				return nil, bad("%s: root version %d is in %q, not a pack of packs/", r.GUN, x.Version, x.Pack)
			case x.Offset < 0 || x.Length < 1 || x.Length > maxRoot:
				return nil, bad("%s: root version %d has offset %d and length %d", r.GUN, x.Version, x.Offset, x.Length)
			}
			if h, err := hex.DecodeString(x.SHA256); err != nil || len(h) != 32 {
				return nil, bad("%s: root version %d has no SHA-256", r.GUN, x.Version)
			}
		}
		if r.ref(r.Version) == nil {
			return nil, bad("%s: its pinned version %d is not held", r.GUN, r.Version)
		}
		st.repos[r.GUN] = r
	}
	return st, nil
}

// encode is state.json for st, GUNs in order.
func (st *state) encode() ([]byte, error) {
	f := stateFile{Format: formatMark, Packs: st.packs, Repos: make([]*repo, 0, len(st.repos))}
	for _, g := range st.guns() {
		f.Repos = append(f.Repos, st.repos[g])
	}
	b, err := json.Marshal(f)
	return append(b, '\n'), err
}

func (st *state) guns() []string {
	out := make([]string, 0, len(st.repos))
	for g := range st.repos {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// clone is a copy of st a writer may change.
func (st *state) clone() *state {
	c := &state{repos: make(map[string]*repo, len(st.repos)), packs: st.packs, format1: st.format1, base: st}
	for g, r := range st.repos {
		c.repos[g] = r.clone()
	}
	return c
}

func (r *repo) clone() *repo {
	c := *r
	c.Roots = slices.Clone(r.Roots)
	return &c
}

// ref is the root version v held, nil when it is not.
func (r *repo) ref(v int) *rootRef {
	i, ok := slices.BinarySearchFunc(r.Roots, v, func(x rootRef, v int) int { return x.Version - v })
	if !ok {
		return nil
	}
	return &r.Roots[i]
}

// pin is the Pin r holds, a copy the caller may keep.
func (r *repo) pin() *Pin {
	p := r.Pin
	p.RootKeyIDs = slices.Clone(r.RootKeyIDs)
	p.Versions = make([]int, 0, len(r.Roots))
	for _, x := range r.Roots {
		p.Versions = append(p.Versions, x.Version)
	}
	return &p
}

// repo returns what the store holds for gun, nil when it holds nothing.
// The result is the cached state's: not to be changed.
func (s *Store) repo(gun string) (*repo, error) {
	st, err := s.current()
	if err != nil || !st.format1 {
		if err != nil {
			return nil, err
		}
		return st.repos[gun], nil
	}
	r, err := s.readFormat1Repo(gun, false)
	if err != nil || r != nil {
		return r, err
	}
	// Not in the format-1 files: unless a writer migrated the store
	// meanwhile (state.json first, then repos/ moved away).
	if st, err = s.current(); err != nil || st.format1 {
		return nil, err
	}
	return st.repos[gun], nil
}
