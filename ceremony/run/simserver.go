package run

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/plan"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/trust"
)

// The simulated notary-server of a rehearsal.

// Server simulates, for a rehearsal, the notary-server between steps: the
// request bundle each step reads, and what publishing each step's bundle
// does.
type Server struct {
	dir   string
	p     *plan.Plan
	h     *rehearsal
	env   session.Env
	repos map[string]*simRepo
}

type simRepo struct {
	Timestamp json.RawMessage `json:"timestamp_key"`
	Snapshot  json.RawMessage `json:"snapshot_key"`
	Roots     map[int][]byte  `json:"roots"` // by version; empty: not on the server
	Targets   []byte          `json:"targets"`
}

func (s *Server) stateFile() string { return filepath.Join(s.dir, "state.json") }

func (s *Server) load() error {
	s.repos = map[string]*simRepo{}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	b, err := os.ReadFile(s.stateFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(b, &s.repos)
}

func (s *Server) save() error {
	b, err := json.MarshalIndent(s.repos, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFile(s.stateFile(), b, 0o600, true)
}

func (s *Server) repo(gun string) (*simRepo, error) {
	if r, ok := s.repos[gun]; ok {
		return r, nil
	}
	r := &simRepo{Roots: map[int][]byte{}}
	for _, k := range []*json.RawMessage{&r.Timestamp, &r.Snapshot} {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		pub, err := trust.PublicKey(priv.Public())
		if err != nil {
			return nil, err
		}
		if *k, err = json.Marshal(pub); err != nil {
			return nil, err
		}
	}
	s.repos[gun] = r
	return r, nil
}

func (r *simRepo) version() int {
	v := 0
	for n := range r.Roots {
		v = max(v, n)
	}
	return v
}

// Request writes the request bundle step i reads, as the server would
// serve it now. A repository an update step changes that the server does
// not have is made first, with the step's root keys.
func (s *Server) Request(ctx context.Context, i int) (string, error) {
	step := s.p.Steps[i-1]
	guns := s.p.GUNs(i)
	if step.Init == nil {
		var missing []string
		for _, g := range guns {
			if r, ok := s.repos[g]; !ok || r.version() == 0 {
				missing = append(missing, g)
			}
		}
		if len(missing) > 0 {
			if err := s.create(ctx, i, missing, keyRefs(step)); err != nil {
				return "", err
			}
		}
	}
	return s.write(fmt.Sprintf("request-%02d", i), guns)
}

// write writes a request bundle for guns under the server's directory.
func (s *Server) write(name string, guns []string) (string, error) {
	dir := filepath.Join(s.dir, name)
	if _, err := os.Stat(dir); err == nil {
		for n := 2; ; n++ {
			d := fmt.Sprintf("%s.%d", dir, n)
			if _, err := os.Stat(d); os.IsNotExist(err) {
				dir = d
				break
			}
		}
	}
	info := bundle.RequestInfo{Format: "keyrite-request/v1", Server: RehearsalServer, FetchedAt: s.env.Now().UTC()}
	files := bundle.Files{}
	for _, g := range guns {
		r, err := s.repo(g)
		if err != nil {
			return "", err
		}
		files[bundle.RepoFile(g, "timestamp.key")] = r.Timestamp
		files[bundle.RepoFile(g, "snapshot.key")] = r.Snapshot
		rr := bundle.RequestRepo{GUN: g}
		if v := r.version(); v > 0 {
			rr.Exists, rr.RootVersion, rr.Metadata = true, v, []string{"root", "targets"}
			files[bundle.RepoFile(g, "root.json")] = r.Roots[v]
			files[bundle.RepoFile(g, "targets.json")] = r.Targets
			// Every earlier version, as fetch brings them for the walk
			// from a pin.
			for n, b := range r.Roots {
				if n < v {
					files[bundle.RepoFile(g, bundle.RootVersionFile(n))] = b
				}
			}
		}
		info.Repos = append(info.Repos, rr)
	}
	b, err := json.Marshal(info)
	if err != nil {
		return "", err
	}
	files[bundle.RequestInfoName] = b
	if err := s.save(); err != nil {
		return "", err
	}
	return dir, bundle.Write(dir, bundle.KindRequest, files)
}

// create makes repositories the plan changes but does not create, with
// the first of the step's keys as root and targets key, and publishes
// them.
func (s *Server) create(ctx context.Context, i int, guns, refs []string) error {
	if len(refs) == 0 {
		return fmt.Errorf("rehearsal: step %d changes %s, which no earlier step creates, and names no key to create them with", i, strings.Join(guns, ", "))
	}
	req, err := s.write(fmt.Sprintf("setup-%02d-request", i), guns)
	if err != nil {
		return err
	}
	root, err := s.h.KeyURI(refs[0])
	if err != nil {
		return err
	}
	out := filepath.Join(s.dir, fmt.Sprintf("setup-%02d-init", i))
	env := s.env
	env.Preview = nil
	if _, err := ceremony.Init(ctx, env, ceremony.InitOptions{Request: req, Out: out, GUNs: guns, RootKeys: []string{root}, RootThreshold: 1,
		RootExpiry: plan.Expiry("", plan.DefaultRootExpiry), TargetsExpiry: plan.Expiry("", plan.DefaultTargetsExpiry)}); err != nil {
		return fmt.Errorf("rehearsal: creating %s, which step %d changes: %w", strings.Join(guns, ", "), i, err)
	}
	return s.Publish(out)
}

// Publish does what publishing a signed bundle would: every repository
// whose thresholds are met takes the bundle's metadata. A bundle still
// waiting for signatures changes nothing.
func (s *Server) Publish(signed string) error {
	b, err := bundle.ReadSigned(signed)
	if err != nil {
		return err
	}
	var inc *verify.IncompleteError
	if _, err := verify.Signed(b, s.env.Now(), s.env.VerifyOptions()); errors.As(err, &inc) {
		return nil
	} else if err != nil {
		return err
	}
	for _, r := range b.Info.Repos {
		sr, err := s.repo(r.GUN)
		if err != nil {
			return err
		}
		if root := b.RepoMetadata(r.GUN, "root"); root != nil {
			sr.Roots[bundle.MetaVersion(root)] = root
		}
		if t := b.RepoMetadata(r.GUN, "targets"); t != nil {
			sr.Targets = t
		}
	}
	return s.save()
}
