package ceremony

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// madeRepo is one new repository, made and signed, not yet in the bundle.
type madeRepo struct {
	gun        string
	repo       *trust.NewRepo
	targetsKey hsm.Key
	ts, ss     data.PublicKey
}

// makeRepo makes one repository: its targets key (unless shared), its
// signed root and targets. With a shared targets key it runs on several
// goroutines at once (see Init).
func makeRepo(ctx context.Context, s *session.Session, ks *trust.KeyService, req *bundle.Request, keys *initKeys, o InitOptions,
	gun string, now time.Time) (*madeRepo, error) {
	ts, _ := req.ServerKey(gun, data.CanonicalTimestampRole)
	ss, _ := req.ServerKey(gun, data.CanonicalSnapshotRole)
	targetsKey := keys.shared
	if targetsKey == nil {
		k, err := newTargetsKey(ctx, s, keys, o, TargetsLabel(gun))
		if err != nil {
			return nil, err
		}
		targetsKey = k
	}
	repo, err := trust.CreateRepository(ks, trust.NewRepoSpec{
		GUN: gun, RootKeys: keys.root, RootThreshold: o.RootThreshold, TargetsKey: targetsKey,
		Timestamp: ts, Snapshot: ss, Now: now, RootExpires: now.Add(o.RootExpiry),
		TargetsExpiry: now.Add(o.TargetsExpiry), Rand: rand.Reader,
	})
	if err != nil {
		return nil, err
	}
	return &madeRepo{gun: gun, repo: repo, targetsKey: targetsKey, ts: ts, ss: ss}, nil
}

// commitRepo puts a made repository in the bundle's files and records the
// transcript line that binds them, in the batch's order.
func commitRepo(s *session.Session, files bundle.Files, m *madeRepo) (*bundle.SignedRepo, *InitRepo, error) {
	gun, repo, targetsKey, ts, ss := m.gun, m.repo, m.targetsKey, m.ts, m.ss
	files[bundle.RepoFile(gun, "root.json")] = repo.Root
	files[bundle.RepoFile(gun, "targets.json")] = repo.Targets
	sr := &bundle.SignedRepo{GUN: gun, New: true, Upload: []string{"root", "targets"},
		RootVersion: 1, RootExpires: repo.RootExpires, RootKeyIDs: repo.RootKeyIDs,
		RootCanonicalIDs: repo.RootKeyBare, TargetsKeyID: repo.TargetsKeyID}
	ir := &InitRepo{GUN: gun, RootKeyIDs: repo.RootKeyIDs, RootCanonicalIDs: repo.RootKeyBare,
		TargetsKeyID: repo.TargetsKeyID, TargetsKeyURI: targetsKey.URI(), RootExpires: repo.RootExpires,
		TimestampKeyID: ts.ID(), SnapshotKeyID: ss.ID()}
	err := s.Record("repo.init", struct {
		InitRepo
		RootSHA256    string `json:"root_sha256"`
		TargetsSHA256 string `json:"targets_sha256"`
	}{*ir, bundle.SHA256Hex(repo.Root), bundle.SHA256Hex(repo.Targets)})
	return sr, ir, err
}

// newTargetsKey makes the targets key of one GUN (or of the batch;
// prepareTargets announced it in the journal), or opens the one an
// interrupted init left when resuming.
func newTargetsKey(ctx context.Context, s *session.Session, keys *initKeys, o InitOptions, label string) (hsm.Key, error) {
	gun := keys.want[label]
	if l, ok := keys.reuse[label]; ok {
		k, err := keys.device.Open(ctx, l.URI)
		if err != nil {
			return nil, fmt.Errorf("%s: opening the targets key an interrupted init left: %w", gun, err)
		}
		keys.created = append(keys.created, createdKey{keys.device, k.URI(), label})
		return k, nil
	}
	delete(keys.unmade, label) // announced by prepareTargets
	k, err := keys.device.Generate(ctx, targetsSpec(label, o))
	if err != nil {
		s.NotCreated(ctx, keys.device, label)
		if errors.Is(err, hsm.ErrExists) {
			return nil, &TargetsKeyExistsError{GUN: gun, Label: label, Err: err}
		}
		return nil, fmt.Errorf("%s: creating the targets key: %w", gun, err)
	}
	keys.created = append(keys.created, createdKey{keys.device, k.URI(), label})
	keys.generated++
	return k, s.Created(keys.device, label, k)
}

// TargetsKeyExistsError is a per-GUN targets key init would create whose
// label the targets device already holds.
type TargetsKeyExistsError struct {
	GUN, Label string
	Err        error
}

func (e *TargetsKeyExistsError) Error() string {
	return fmt.Sprintf("%s: a key labelled %q is already on the targets device: %v", e.GUN, e.Label, e.Err)
}

func (e *TargetsKeyExistsError) Unwrap() error { return e.Err }

// TargetsLabel is the label of the targets key Init creates for a GUN.
func TargetsLabel(gun string) string { return "targets:" + gun }
