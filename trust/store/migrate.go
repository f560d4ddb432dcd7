package store

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/keyrite/keyrite/internal/fsutil"
)

// Format 1 kept a directory per GUN: DIR/repos/<hex of GUN>/<N>.root.json
// for every version held, and pin.json. A store of that format (no
// state.json, a repos/ directory) is read as it is, GUN by GUN; the first
// write, under the lock, loads it whole and commits it as format 2 with
// its batch (every root held in the new pack), then moves repos/ to
// repos.format1: kept, as the user's trust history, and no longer read.
//
// In its place goes a file named repos (formatGuard): a keyrite of format
// 1 fails on it (not a directory) instead of seeing an empty store and
// trusting every repository on first use. A store with that file and no
// state.json has lost its state, and is refused (*DamagedError).
const (
	format1Dir  = "repos"
	format1Kept = "repos.format1"
	formatGuard = "This trust store is keyrite trust store format 2: its pins are in state.json and packs/.\n" +
		"A keyrite that finds this file where it expects a directory is older than the store: upgrade it.\n" +
		"The pins of format 1, before the store was converted, are kept in repos.format1/.\n"
)

// format1Partial matches the temporaries a format-1 writer left in a
// GUN's directory.
var format1Partial = regexp.MustCompile(`^\.(pin\.json|[0-9]+\.root\.json)\.partial-[0-9]+$`)

// withoutState is the state of a store without state.json: empty, or a
// format-1 store.
func (s *Store) withoutState() (*state, error) {
	fi, err := os.Lstat(filepath.Join(s.Dir, format1Dir))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &state{repos: map[string]*repo{}}, nil
	case err != nil:
		return nil, err
	case fi.IsDir():
		return &state{format1: true}, nil
	}
	return nil, &DamagedError{Dir: s.Dir, Path: s.statePath(), Reason: "missing: the store is format 2 (repos is its marker) and has lost its pins; restore it from a copy"}
}

func (s *Store) format1RepoDir(gun string) string {
	return filepath.Join(s.Dir, format1Dir, hex.EncodeToString([]byte(gun)))
}

// readFormat1Repo reads a GUN's pin.json and lists its roots, nil when it
// is not pinned. withData reads the roots too (for a migration) and
// removes the temporaries a killed format-1 writer left; without, each
// root is read from its file when asked.
func (s *Store) readFormat1Repo(gun string, withData bool) (*repo, error) {
	dir := s.format1RepoDir(gun)
	b, err := fsutil.Read(filepath.Join(dir, "pin.json"), fsutil.ReadOptions{Max: maxRoot, NoSymlink: true, Private: true, What: "trust store pin"})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p Pin
	if err := json.Unmarshal(b, &p); err != nil || p.GUN != gun || p.Version < 1 {
		return nil, fmt.Errorf("trust store %s: the pin of %s is unreadable", s.Dir, gun)
	}
	p.Versions = nil // the roots found below say which
	r := &repo{Pin: p}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		name := e.Name()
		if withData && format1Partial.MatchString(name) && e.Type().IsRegular() {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		n, ok := strings.CutSuffix(name, ".root.json")
		v, err := strconv.Atoi(n)
		if !ok || err != nil || v < 1 {
			continue
		}
		ref := rootRef{Version: v, path: filepath.Join(dir, name)}
		if withData {
			if ref.data, err = readFormat1Root(ref.path); err != nil {
				return nil, err
			}
			ref.Length, ref.SHA256, ref.path = int64(len(ref.data)), sha256Hex(ref.data), ""
		}
		r.Roots = append(r.Roots, ref)
	}
	slices.SortFunc(r.Roots, func(a, b rootRef) int { return a.Version - b.Version })
	if withData && r.ref(r.Version) == nil {
		return nil, fmt.Errorf("trust store %s: the pinned root version %d of %s is missing", s.Dir, r.Version, gun)
	}
	return r, nil
}

func readFormat1Root(path string) ([]byte, error) {
	return fsutil.Read(path, fsutil.ReadOptions{Max: maxRoot, NoSymlink: true, Private: true, What: "trust store root"})
}

// loadFormat1 reads every pinned GUN of a format-1 store (a GUN's
// directory without pin.json holds roots a killed writer left before
// their pin: not trusted, so not carried over).
func (s *Store) loadFormat1(withData bool) (*state, error) {
	st := &state{repos: map[string]*repo{}, format1: true}
	ents, err := os.ReadDir(filepath.Join(s.Dir, format1Dir))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		raw, err := hex.DecodeString(e.Name())
		if err != nil || len(raw) == 0 || !e.IsDir() {
			continue
		}
		r, err := s.readFormat1Repo(string(raw), withData)
		if err != nil {
			return nil, err
		}
		if r != nil {
			st.repos[r.GUN] = r
		}
	}
	return st, nil
}

// finishFormat1 moves a format-1 repos/ directory out of the way once
// state.json holds its pins, and puts the guard in its place (also in a
// new store). Best effort: the next writer finishes what a failure left.
func (s *Store) finishFormat1() {
	old := filepath.Join(s.Dir, format1Dir)
	fi, err := os.Lstat(old)
	switch {
	case err == nil && fi.IsDir():
		for i := 1; ; i++ {
			kept := filepath.Join(s.Dir, format1Kept)
			if i > 1 {
				kept += "-" + strconv.Itoa(i)
			}
			err := fsutil.RenameNoReplace(old, kept)
			if err == nil {
				break
			}
			if !errors.Is(err, fs.ErrExist) {
				return
			}
		}
	case err == nil || !errors.Is(err, fs.ErrNotExist):
		return
	}
	fsutil.WriteFile(old, []byte(formatGuard), 0o600, false)
}
