package ceremony

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/inorder"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// MinRootValidity is the shortest root expiry keyrite signs: inside six
// months of expiry notary clients try to re-sign root themselves on every
// publish, which fails without the (offline) root key.
const MinRootValidity = 183 * 24 * time.Hour

// InitOptions control Init.
type InitOptions struct {
	Request       string   // request bundle directory
	Out           string   // signed bundle directory, must not exist
	RootKeys      []string // key URIs
	RootThreshold int
	TargetsKey    string // existing key for every GUN; empty: one new key per GUN
	TargetsDevice string // where new targets keys go; empty: the first root key's device
	// TargetsPlacement is PlacementAuto, PlacementPerGUN or PlacementBatch
	// (see targets.go).
	TargetsPlacement string
	// TargetsTouchPolicy is the YubiKey touch policy of new targets keys
	// (empty: DefaultTargetsTouchPolicy).
	TargetsTouchPolicy string
	GUNs               []string
	RootExpiry         time.Duration
	TargetsExpiry      time.Duration

	// RequireAttestation refuses root keys without a verified device
	// attestation (an imported key never has one).
	RequireAttestation bool
}

// InitRepo is what Init made for one GUN.
type InitRepo struct {
	GUN              string    `json:"gun"`
	RootKeyIDs       []string  `json:"root_key_ids"`
	RootCanonicalIDs []string  `json:"root_canonical_ids"`
	TargetsKeyID     string    `json:"targets_key_id"`
	TargetsKeyURI    string    `json:"targets_key_uri"`
	RootExpires      time.Time `json:"root_expires"`
	// The server's keys, from the request bundle: nothing on the offline
	// side can check them, so they are shown and recorded.
	TimestampKeyID string `json:"timestamp_key_id"`
	SnapshotKeyID  string `json:"snapshot_key_id"`
}

// InitResult is what Init reports.
type InitResult struct {
	Out        string     `json:"out"`
	Server     string     `json:"server"`
	Rehearsal  bool       `json:"rehearsal"`
	Signatures int64      `json:"signatures"`
	Repos      []InitRepo `json:"repos"`
}

// initKeys are the keys an init signs with, opened before anything is
// created.
type initKeys struct {
	root         []crypto.Signer
	attestations []*rootAttestation
	attFiles     bundle.Files
	shared       hsm.Key     // the one targets key of every GUN, or nil
	device       hsm.Backend // where per-GUN targets keys are made
	created      []createdKey
	// reuse are targets keys an interrupted init left, by label, that
	// this run resumes with.
	reuse map[string]session.Leftover
	// want are the labels of the targets keys this run creates, each with
	// the GUN (or batch) it is for; placement is where (targets.go).
	want       map[string]string
	placement  string
	batchLabel string // the batch's one targets key, when placement is batch
	// unmade are the labels announced in the journal (all at once, before
	// the first key) whose key this run has not asked the device for yet.
	unmade    map[string]bool
	generated int // keys this run generated, each with one self-test signature
}

// Init creates new repositories offline: for each GUN a root certificate
// per root key, a targets key, root.json v1 and an empty targets.json, all
// signed through the devices. Either the whole signed bundle is written or
// nothing is, and targets keys created for a failed run are destroyed.
func Init(ctx context.Context, env session.Env, o InitOptions) (res *InitResult, err error) {
	if err := checkInit(o); err != nil {
		return nil, err
	}
	req, err := readNewRepos(o)
	if err != nil {
		return nil, err
	}
	s := session.New(env, "init")
	defer s.Close()
	for _, gun := range o.GUNs {
		if err := s.CheckNew(gun); err != nil {
			return nil, err
		}
	}
	keys, err := openInitKeys(ctx, s, o)
	if err != nil {
		return nil, err
	}
	if err := planTargets(ctx, s, keys, o); err != nil {
		return nil, err
	}
	if err := previewInit(s, o, keys, s.Now()); err != nil {
		return nil, err
	}
	// Keys this run creates are destroyed again if it fails, even when it
	// fails because it was interrupted.
	defer func() {
		if err != nil {
			s.ReleaseUnmade(keys.device, slices.Sorted(maps.Keys(keys.unmade)))
			err = rollback(ctx, s, keys.created, err)
		}
	}()
	if err := prepareTargets(ctx, s, keys, o); err != nil {
		return nil, err
	}
	if err := s.Begin(nil, map[string]any{"request_manifest_sha256": bundle.SHA256Hex(req.Manifest), "server": req.Info.Server,
		"root_keys": o.RootKeys, "guns": o.GUNs, "targets_placement": keys.placement}); err != nil {
		return nil, err
	}
	if keys.batchLabel != "" {
		if keys.shared, err = newTargetsKey(ctx, s, keys, o, keys.batchLabel); err != nil {
			return nil, err
		}
	}
	files := bundle.Files{}
	if err := recordAttestations(s, files, keys.attFiles, keys.attestations); err != nil {
		return nil, err
	}
	ks := trust.NewKeyService()
	res = &InitResult{Out: o.Out, Server: req.Info.Server}
	info := bundle.SignedInfo{Server: req.Info.Server, Created: s.Now().UTC(), Command: "init"}
	now := s.Now()
	// With one targets key nothing is created per GUN, so the GUNs are
	// made on every core: the device signs one at a time while the other
	// goroutines check signatures and encode metadata.
	workers := 1
	if keys.shared != nil {
		workers = runtime.GOMAXPROCS(0)
	}
	if err := inorder.Run(ctx, len(o.GUNs), workers, func(ctx context.Context, i int) (*madeRepo, error) {
		return makeRepo(ctx, s, ks, req, keys, o, o.GUNs[i], now)
	}, func(i int, m *madeRepo) error {
		sr, ir, err := commitRepo(s, files, m)
		if err != nil {
			return err
		}
		info.Repos = append(info.Repos, *sr)
		res.Repos = append(res.Repos, *ir)
		s.Progress(i+1, len(o.GUNs), m.gun)
		return nil
	}); err != nil {
		return nil, err
	}
	// Every signature the devices make: the metadata's and certificates',
	// each new targets key's self-test (hsm.Backend.Generate) and, below,
	// the seal's, one per root key.
	res.Signatures = ks.Signatures() + int64(keys.generated)
	res.Rehearsal = s.Software()
	if err := s.SealBy(keys.root...); err != nil {
		return nil, err
	}
	if err := s.End(map[string]any{"signatures": res.Signatures, "repos": len(o.GUNs)}); err != nil {
		return nil, err
	}
	res.Signatures += int64(len(keys.root))
	// WriteSigned ends the journal once the bundle is written: its
	// targets keys belong to the bundle.
	_, err = s.WriteSigned(o.Out, info, files, req)
	return res, err
}

// readNewRepos reads the request bundle and refuses a GUN it lacks or one
// the server already has.
func readNewRepos(o InitOptions) (*bundle.Request, error) {
	req, err := bundle.ReadRequest(o.Request)
	if err != nil {
		return nil, err
	}
	for _, gun := range o.GUNs {
		r, ok := req.Repo(gun)
		if !ok {
			return nil, &session.NotInRequestError{GUN: gun, Request: o.Request}
		}
		if r.Exists {
			return nil, &ExistsError{GUN: gun, Version: r.RootVersion}
		}
	}
	return req, nil
}

// openInitKeys opens the root keys and checks their attestations, then the
// shared targets key or the device that will hold per-GUN targets keys.
func openInitKeys(ctx context.Context, s *session.Session, o InitOptions) (*initKeys, error) {
	keys := &initKeys{}
	var rootHSMKeys []hsm.Key
	for _, uri := range o.RootKeys {
		k, err := s.Key(ctx, uri)
		if err != nil {
			return nil, err
		}
		keys.root = append(keys.root, k)
		rootHSMKeys = append(rootHSMKeys, k)
	}
	// Thresholds count distinct public keys: one backed-up key imported
	// into two devices is one key, not two.
	var pubs []data.PublicKey
	for _, k := range keys.root {
		p, err := trust.PublicKey(k.Public())
		if err != nil {
			return nil, err
		}
		pubs = append(pubs, p)
	}
	if err := trust.DistinctKeys(pubs); err != nil {
		return nil, err
	}
	var err error
	keys.attFiles, keys.attestations, err = attestRootKeys(ctx, s, o.RootKeys, rootHSMKeys, o.RequireAttestation)
	if err != nil {
		return nil, err
	}
	if o.TargetsKey != "" {
		keys.shared, err = s.Key(ctx, o.TargetsKey)
		return keys, err
	}
	device := o.TargetsDevice
	if device == "" {
		device = o.RootKeys[0]
	}
	if keys.device, err = s.Backend(ctx, device); err != nil {
		return nil, session.WrapDevice(device, err)
	}
	return keys, nil
}

// prepareTargets deals with the targets keys an interrupted init left on
// the targets device (remove them, or resume with them), then refuses a
// label the device already holds, before any key is created: a key found
// later under a label this run announced is then the one it made.
func prepareTargets(ctx context.Context, s *session.Session, keys *initKeys, o InitOptions) error {
	if keys.device == nil {
		return nil // one existing targets key: nothing is created
	}
	want := keys.want
	s.JournalFor(o.Out, "")
	reuse, err := s.Leftovers(ctx, []hsm.Backend{keys.device}, func(l session.Leftover) bool {
		_, ok := want[l.Label]
		return ok && l.Command == "init"
	})
	if err != nil {
		return err
	}
	keys.reuse = reuse
	held, err := keys.device.List(ctx)
	if err != nil && !errors.Is(err, hsm.ErrNotFound) {
		return session.WrapDevice(keys.device.Info().URI, err)
	}
	for _, k := range held {
		if gun, ok := want[k.Label]; ok {
			if _, reused := reuse[k.Label]; !reused {
				return &TargetsKeyExistsError{GUN: gun, Label: k.Label, Err: fmt.Errorf("%s: %w", k.URI, hsm.ErrExists)}
			}
		}
	}
	// Every new key announced at once (one fsync), before the first.
	var labels, purposes []string
	keys.unmade = map[string]bool{}
	for _, label := range slices.Sorted(maps.Keys(want)) {
		if _, ok := reuse[label]; !ok {
			labels, purposes = append(labels, label), append(purposes, "targets key of "+want[label])
			keys.unmade[label] = true
		}
	}
	return s.CreatingAll(keys.device, labels, purposes)
}

// ExistsError is an init of a repository the server already has.
type ExistsError struct {
	GUN     string
	Version int
}

func (e *ExistsError) Error() string {
	return fmt.Sprintf("%s already exists on the server (root version %d); init only creates new repositories", e.GUN, e.Version)
}

type createdKey struct {
	b          hsm.Backend
	uri, label string
}

// rollbackTimeout bounds a rollback that runs after the run's context was
// cancelled (SIGINT, SIGTERM).
const rollbackTimeout = 2 * time.Minute

// rollback destroys keys a failed run created and says so in the error. It
// runs on a context of its own: an interrupted run is rolled back too. A
// key it cannot destroy stays in the journal for the next run.
func rollback(ctx context.Context, s *session.Session, created []createdKey, cause error) error {
	var written *session.NotPinnedError
	if len(created) == 0 || errors.As(cause, &written) {
		return cause // nothing to destroy, or the bundle written names the keys
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	var failed []string
	for _, c := range created {
		if err := c.b.Delete(ctx, c.uri); err != nil {
			failed = append(failed, fmt.Sprintf("%s (%v)", c.uri, err))
			continue
		}
		if err := s.Destroyed(c.b, c.label); err != nil {
			failed = append(failed, fmt.Sprintf("%s (removed, but the journal could not record it: %v)", c.uri, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w; the targets keys this run created could not all be removed: %v", cause, failed)
	}
	return &RolledBackError{Removed: len(created), Err: cause}
}

// RolledBackError is a failed init whose new targets keys were all
// destroyed again: nothing of it is left.
type RolledBackError struct {
	Removed int
	Err     error
}

func (e *RolledBackError) Error() string {
	return fmt.Sprintf("%v (the %d targets key(s) this run created were removed; nothing was written)", e.Err, e.Removed)
}

func (e *RolledBackError) Unwrap() error { return e.Err }

func checkInit(o InitOptions) error {
	if err := session.CheckGUNs(o.GUNs); err != nil {
		return err
	}
	if len(o.RootKeys) == 0 {
		return &session.MissingInputError{What: "root key"}
	}
	if err := checkRootExpiry(o.RootExpiry); err != nil {
		return err
	}
	if o.TargetsExpiry <= 0 {
		return errors.New("targets expiry must be positive")
	}
	switch o.TargetsPlacement {
	case PlacementAuto, PlacementPerGUN, PlacementBatch:
	default:
		return fmt.Errorf("targets placement %q: use %s or %s", o.TargetsPlacement, PlacementPerGUN, PlacementBatch)
	}
	if o.TargetsKey != "" && o.TargetsPlacement != PlacementAuto {
		return errors.New("an existing targets key is shared by every GUN: it takes no placement")
	}
	return session.CheckNewOutput(o.Out)
}
