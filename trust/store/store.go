// Package store is the air-gapped side's trust store: for each GUN, the
// roots this machine signed or verified, version by version, and which one
// it trusts now (the pin). Current metadata that crosses the air gap is
// accepted only by walking the root chain from the pin (trust.WalkRoots);
// the online machine cannot make this machine trust a root it did not
// already trust, or one that chains from it.
//
// Layout: DIR/repos/<hex of GUN>/<N>.root.json for every version held, and
// pin.json naming the GUN, the pinned version, how it came to be trusted
// and when. Every file is written atomically (batch.go); pin.json last, so
// a crash leaves the previous pin in force.
package store

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/theupdateframework/notary/tuf/data"
)

// How a pin came to be.
const (
	SourceSigned   = "signed"   // a signed bundle this machine wrote
	SourceImported = "imported" // trust import of a signed bundle or an export
	SourceTOFU     = "first-use"
	SourceVerified = "verified" // chained from the pin in a request bundle
)

// maxRoot bounds a root.json read from the store.
const maxRoot = 1 << 20

// Store is a trust store directory.
type Store struct{ Dir string }

// Pin is what the store trusts for one GUN.
type Pin struct {
	GUN        string    `json:"gun"`
	Version    int       `json:"version"`
	Source     string    `json:"source"`
	Detail     string    `json:"detail,omitempty"` // e.g. the bundle it came from
	PinnedAt   time.Time `json:"pinned_at"`
	RootKeyIDs []string  `json:"root_key_ids"`
	Versions   []int     `json:"versions_held"`
}

// DefaultDir is the trust store's default place: keyrite/trust under the
// user's configuration directory ($XDG_CONFIG_HOME or ~/.config).
func DefaultDir() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "keyrite", "trust"), nil
}

// Open opens a trust store; its directories are made (0700) when the
// first pin is written.
func Open(dir string) *Store { return &Store{Dir: dir} }

func (s *Store) repoDir(gun string) string {
	return filepath.Join(s.Dir, "repos", hex.EncodeToString([]byte(gun)))
}

// Pin returns the pin of a GUN, nil when the store has none.
func (s *Store) Pin(gun string) (*Pin, error) {
	p, err := s.readPin(gun)
	if err != nil || p == nil {
		return nil, err
	}
	p.Versions, err = s.versions(gun)
	return p, err
}

// readPin reads a GUN's pin.json, without the versions held.
func (s *Store) readPin(gun string) (*Pin, error) {
	b, err := fsutil.Read(filepath.Join(s.repoDir(gun), "pin.json"), fsutil.ReadOptions{Max: maxRoot, NoSymlink: true, Private: true, What: "trust store pin"})
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
	return &p, nil
}

// Root returns the root of a version the store holds, nil when it has none.
func (s *Store) Root(gun string, version int) ([]byte, error) {
	b, err := fsutil.Read(filepath.Join(s.repoDir(gun), fmt.Sprintf("%d.root.json", version)), fsutil.ReadOptions{Max: maxRoot, NoSymlink: true, Private: true, What: "trust store root"})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// Pinned returns the pin of a GUN and the root it names.
func (s *Store) Pinned(gun string) (*Pin, []byte, error) {
	p, err := s.Pin(gun)
	if err != nil || p == nil {
		return nil, nil, err
	}
	root, err := s.Root(gun, p.Version)
	if err == nil && root == nil {
		err = fmt.Errorf("trust store %s: the pinned root version %d of %s is missing", s.Dir, p.Version, gun)
	}
	return p, root, err
}

func (s *Store) versions(gun string) ([]int, error) {
	ents, err := os.ReadDir(s.repoDir(gun))
	if err != nil {
		return nil, err
	}
	var vs []int
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".root.json"); ok {
			if v, err := strconv.Atoi(n); err == nil {
				vs = append(vs, v)
			}
		}
	}
	sort.Ints(vs)
	return vs, nil
}

// Set pins root (raw root.json) for gun, keeping the roots it chains from
// (chain, in version order, may be empty). The caller has verified that
// root chains from the current pin (or that the operator trusts it on
// first use): Set refuses only a version older than the pin, which would
// let a later ceremony accept a rollback. It is a batch of one: see
// SetBatch.
func (s *Store) Set(gun string, chain [][]byte, root []byte, source, detail string, now time.Time) (*Pin, error) {
	ps, err := s.SetBatch([]Update{{GUN: gun, Chain: chain, Root: root, Source: source, Detail: detail}}, now)
	if err != nil {
		return nil, err
	}
	return ps[0], nil
}

// List returns every pin, by GUN.
func (s *Store) List() ([]Pin, error) {
	ents, err := os.ReadDir(filepath.Join(s.Dir, "repos"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Pin
	for _, e := range ents {
		raw, err := hex.DecodeString(e.Name())
		if err != nil {
			continue
		}
		p, err := s.Pin(string(raw))
		if err != nil {
			return nil, err
		}
		if p != nil {
			out = append(out, *p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GUN < out[j].GUN })
	return out, nil
}

// rootKeyIDs are the IDs of the root role's keys, as root.json and docker
// name them.
func rootKeyIDs(root []byte) ([]string, error) {
	var sr data.SignedRoot
	if err := json.Unmarshal(root, &sr); err != nil {
		return nil, err
	}
	r, ok := sr.Signed.Roles[data.CanonicalRootRole]
	if !ok {
		return nil, errors.New("no root role")
	}
	ids := append([]string(nil), r.KeyIDs...)
	sort.Strings(ids)
	return ids, nil
}

// Forget drops the pin of gun: with keep > 0 the pin goes back to held
// version keep (versions above it are removed), else every root held for
// gun is removed and the GUN is trusted again only by import or on first
// use.
func (s *Store) Forget(gun string, keep int, now time.Time) (*Pin, error) {
	// Under the lock writers take (batch.go), once the GUN is pinned: a
	// store that does not exist is not made by forgetting in it.
	if p, err := s.readPin(gun); err != nil || p == nil {
		return nil, s.notPinned(gun, err)
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	p, err := s.Pin(gun)
	if err != nil || p == nil {
		return nil, s.notPinned(gun, err)
	}
	dir := s.repoDir(gun)
	if keep <= 0 {
		return nil, os.RemoveAll(dir)
	}
	if keep >= p.Version {
		return nil, fmt.Errorf("%s: version %d is not below the pinned version %d", gun, keep, p.Version)
	}
	root, err := s.Root(gun, keep)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, fmt.Errorf("%s: version %d is not held here (held: %v)", gun, keep, p.Versions)
	}
	ids, err := rootKeyIDs(root)
	if err != nil {
		return nil, err
	}
	np := &Pin{GUN: gun, Version: keep, Source: p.Source, Detail: fmt.Sprintf("version %d kept when version %d was forgotten", keep, p.Version),
		PinnedAt: now.UTC(), RootKeyIDs: ids}
	b, err := json.MarshalIndent(np, "", "  ")
	if err != nil {
		return nil, err
	}
	// The pointer first, so that a crash leaves a pin to a version held.
	if err := fsutil.WriteFile(filepath.Join(dir, "pin.json"), append(b, '\n'), 0o600, true); err != nil {
		return nil, err
	}
	for _, v := range p.Versions {
		if v > keep {
			if err := os.Remove(filepath.Join(dir, fmt.Sprintf("%d.root.json", v))); err != nil {
				return nil, err
			}
		}
	}
	np.Versions, err = s.versions(gun)
	return np, err
}

// notPinned is err, or the error of a GUN the store does not pin.
func (s *Store) notPinned(gun string, err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s: nothing is pinned for it in %s", gun, s.Dir)
}

// History returns every root held for gun, in version order.
func (s *Store) History(gun string) ([][]byte, error) {
	vs, err := s.versions(gun)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, v := range vs {
		b, err := s.Root(gun, v)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
