// Package store is the air-gapped side's trust store: for each GUN, the
// roots this machine signed or verified, version by version, and which one
// it trusts now (the pin). Current metadata that crosses the air gap is
// accepted only by walking the root chain from the pin (trust.WalkRoots);
// the online machine cannot make this machine trust a root it did not
// already trust, or one that chains from it.
//
// Layout (format 2): DIR/state.json names, for every GUN, its pin (the
// version trusted, how it came to be trusted and when) and every root
// version held, each as a place in a pack: DIR/packs/<seq>.pack, the raw
// root.json bytes a batch added, concatenated, never changed once named.
// A batch of pins writes one pack and a new state.json (renamed into
// place: the batch's commit point), so its cost does not grow with the
// number of files a GUN would need (batch.go, commit.go). Every read of a
// root checks its length and SHA-256 against the state (pack.go).
//
// Format 1 (DIR/repos/<hex of GUN>/<N>.root.json and pin.json) is read as
// it is until the first write, which migrates it (migrate.go).
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
)

// How a pin came to be.
const (
	SourceSigned   = "signed"   // a signed bundle this machine wrote
	SourceImported = "imported" // trust import of a signed bundle or an export
	SourceTOFU     = "first-use"
	SourceVerified = "verified" // chained from the pin in a request bundle
)

// maxRoot bounds a root.json held in the store.
const maxRoot = 1 << 20

// Store is a trust store directory. It is safe for concurrent use: it
// keeps the parsed state.json while the file is unchanged (state.go).
type Store struct {
	Dir string

	mu      sync.Mutex
	cache   *state
	cacheID fileID
}

// Pin is what the store trusts for one GUN.
type Pin struct {
	GUN        string    `json:"gun"`
	Version    int       `json:"version"`
	Source     string    `json:"source"`
	Detail     string    `json:"detail,omitempty"` // e.g. the bundle it came from
	PinnedAt   time.Time `json:"pinned_at"`
	RootKeyIDs []string  `json:"root_key_ids"`
	// Versions is derived from the roots held; state.json does not
	// repeat it (it is empty there, and omitted).
	Versions []int `json:"versions_held,omitempty"`
}

// DamagedError is a trust store whose files are not what it recorded: a
// state.json that does not parse or names a pack outside packs/, a pack
// shorter than the state says or whose bytes do not match their SHA-256.
// Nothing is read from, or pinned on top of, what it names.
type DamagedError struct {
	Dir    string
	Path   string // the file at fault
	Reason string
	gone   bool // a pack state.json names is not there
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("trust store %s is damaged: %s: %s", e.Dir, e.Path, e.Reason)
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

// Pin returns the pin of a GUN, nil when the store has none.
func (s *Store) Pin(gun string) (*Pin, error) {
	r, err := s.repo(gun)
	if err != nil || r == nil {
		return nil, err
	}
	return r.pin(), nil
}

// Root returns the root of a version the store holds, nil when it has none.
func (s *Store) Root(gun string, version int) (root []byte, err error) {
	err = s.reading(gun, func(r *repo, rd *reader) (err error) {
		if ref := r.ref(version); ref != nil {
			root, err = rd.root(gun, ref)
		}
		return err
	})
	return root, err
}

// Pinned returns the pin of a GUN and the root it names.
func (s *Store) Pinned(gun string) (pin *Pin, root []byte, err error) {
	err = s.reading(gun, func(r *repo, rd *reader) (err error) {
		ref := r.ref(r.Version)
		if ref == nil {
			return fmt.Errorf("trust store %s: the pinned root version %d of %s is missing", s.Dir, r.Version, gun)
		}
		if root, err = rd.root(gun, ref); err == nil {
			pin = r.pin()
		}
		return err
	})
	return pin, root, err
}

// History returns every root held for gun, in version order.
func (s *Store) History(gun string) (out [][]byte, err error) {
	err = s.reading(gun, func(r *repo, rd *reader) error {
		out = nil
		for i := range r.Roots {
			b, err := rd.root(gun, &r.Roots[i])
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		return nil
	})
	return out, err
}

// reading runs read on what the store holds for gun, if anything. A pack
// gone between reading the state and opening the pack was dropped by a
// writer that compacted meanwhile: read is run once more, on its state.
func (s *Store) reading(gun string, read func(*repo, *reader) error) error {
	for try := 0; ; try++ {
		r, err := s.repo(gun)
		if err != nil || r == nil {
			return err
		}
		rd := s.newReader()
		err = read(r, rd)
		rd.close()
		var d *DamagedError
		if try > 0 || !errors.As(err, &d) || !d.gone {
			return err
		}
	}
}

// List returns every pin, by GUN.
func (s *Store) List() ([]Pin, error) {
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	if st.format1 {
		if st, err = s.loadFormat1(false); err != nil {
			return nil, err
		}
	}
	out := make([]Pin, 0, len(st.repos))
	for _, r := range st.repos {
		out = append(out, *r.pin())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GUN < out[j].GUN })
	return out, nil
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

// Forget drops the pin of gun: with keep > 0 the pin goes back to held
// version keep (versions above it are dropped), else every root held for
// gun is dropped and the GUN is trusted again only by import or on first
// use. The dropped roots' bytes stay in their packs until a later batch
// compacts them (commit.go).
func (s *Store) Forget(gun string, keep int, now time.Time) (*Pin, error) {
	// Under the lock writers take, once the GUN is pinned: a store that
	// does not exist is not made by forgetting in it.
	if r, err := s.repo(gun); err != nil || r == nil {
		return nil, s.notPinned(gun, err)
	}
	st, err := s.write(func(st *state) error {
		r := st.repos[gun]
		if r == nil {
			return s.notPinned(gun, nil)
		}
		if keep <= 0 {
			delete(st.repos, gun)
			return nil
		}
		if keep >= r.Version {
			return fmt.Errorf("%s: version %d is not below the pinned version %d", gun, keep, r.Version)
		}
		ref := r.ref(keep)
		if ref == nil {
			return fmt.Errorf("%s: version %d is not held here (held: %v)", gun, keep, r.pin().Versions)
		}
		rd := s.newReader()
		root, err := rd.root(gun, ref)
		rd.close()
		if err != nil {
			return err
		}
		_, ids, err := rootInfo(root)
		if err != nil {
			return err
		}
		old := r.Version
		r.Roots = slices.DeleteFunc(r.Roots, func(x rootRef) bool { return x.Version > keep })
		r.Version, r.RootKeyIDs, r.PinnedAt = keep, ids, now.UTC()
		r.Detail = fmt.Sprintf("version %d kept when version %d was forgotten", keep, old)
		return nil
	})
	if err != nil || keep <= 0 {
		return nil, err
	}
	return st.repos[gun].pin(), nil
}

// notPinned is err, or the error of a GUN the store does not pin.
func (s *Store) notPinned(gun string, err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s: nothing is pinned for it in %s", gun, s.Dir)
}

// rootInfo is a root's version and the IDs of its root role's keys (as
// root.json and docker name them), in one parse with the standard library:
// a batch of 1,000 GUNs parses 1,000 roots, which the caller has verified.
func rootInfo(root []byte) (int, []string, error) {
	var sr struct {
		Signed struct {
			Type    string `json:"_type"`
			Version int    `json:"version"`
			Roles   map[string]struct {
				KeyIDs []string `json:"keyids"`
			} `json:"roles"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(root, &sr); err != nil {
		return 0, nil, err
	}
	if sr.Signed.Type != data.TUFTypes[data.CanonicalRootRole] || sr.Signed.Version < 1 {
		return 0, nil, fmt.Errorf("not a root (type %q, version %d)", sr.Signed.Type, sr.Signed.Version)
	}
	r, ok := sr.Signed.Roles[data.CanonicalRootRole.String()]
	if !ok {
		return 0, nil, errors.New("no root role")
	}
	sort.Strings(r.KeyIDs)
	return sr.Signed.Version, r.KeyIDs, nil
}
