package ceremony

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/hsm"
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
	GUNs          []string
	RootExpiry    time.Duration
	TargetsExpiry time.Duration
	Now           time.Time
	Args          []string // the command line, for the transcript
	Progress      func(done, total int, gun string)

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
}

// InitResult is what Init reports.
type InitResult struct {
	Out        string     `json:"out"`
	Server     string     `json:"server"`
	Rehearsal  bool       `json:"rehearsal"`
	Signatures int64      `json:"signatures"`
	Repos      []InitRepo `json:"repos"`
}

// Init creates new repositories offline: for each GUN a root certificate
// per root key, a targets key, root.json v1 and an empty targets.json, all
// signed through the devices. Either the whole signed bundle is written or
// nothing is, and targets keys created for a failed run are destroyed.
func Init(ctx context.Context, env Env, o InitOptions) (res *InitResult, err error) {
	if err := checkInit(o); err != nil {
		return nil, err
	}
	req, err := bundle.ReadRequest(o.Request)
	if err != nil {
		return nil, err
	}
	for _, gun := range o.GUNs {
		r, ok := req.Repo(gun)
		if !ok {
			return nil, fmt.Errorf("%s is not in the request bundle %s: fetch it first (keyrite fetch ... %s)", gun, o.Request, gun)
		}
		if r.Exists {
			return nil, &ExistsError{GUN: gun, Version: r.RootVersion}
		}
	}

	d := newDevices(env)
	defer d.close()
	var rootKeys []crypto.Signer
	var rootHSMKeys []hsm.Key
	for _, uri := range o.RootKeys {
		k, err := d.key(ctx, uri)
		if err != nil {
			return nil, wrapDevice(uri, err)
		}
		rootKeys = append(rootKeys, k)
		rootHSMKeys = append(rootHSMKeys, k)
	}
	attFiles, attestations, err := attestRootKeys(ctx, d, o.RootKeys, rootHSMKeys, env.Registry, o.RequireAttestation)
	if err != nil {
		return nil, err
	}

	// Keys this run creates are destroyed again if it fails.
	var created []createdKey
	defer func() {
		if err != nil {
			err = rollback(ctx, created, err)
		}
	}()

	var sharedTargets hsm.Key
	if o.TargetsKey != "" {
		if sharedTargets, err = d.key(ctx, o.TargetsKey); err != nil {
			return nil, wrapDevice(o.TargetsKey, err)
		}
	}
	targetsDevice := o.TargetsDevice
	if targetsDevice == "" {
		targetsDevice = o.RootKeys[0]
	}

	var targetsBackend hsm.Backend
	if sharedTargets == nil {
		if targetsBackend, err = d.backend(ctx, targetsDevice); err != nil {
			return nil, wrapDevice(targetsDevice, err)
		}
	}
	t, err := NewTranscript(nil, "init", time.Now)
	if err != nil {
		return nil, err
	}
	if err := t.Append("ceremony.start", map[string]any{
		"args": o.Args, "request_manifest_sha256": sha256hex(req.Manifest), "server": req.Info.Server,
		"devices": d.events, "rehearsal": d.soft, "root_keys": o.RootKeys, "guns": o.GUNs,
	}); err != nil {
		return nil, err
	}
	ks := trust.NewKeyService()
	res = &InitResult{Out: o.Out, Server: req.Info.Server}
	files := bundle.Files{}
	if err := recordAttestations(t, files, attFiles, attestations); err != nil {
		return nil, err
	}
	info := bundle.SignedInfo{Server: req.Info.Server, Created: o.Now.UTC(), Command: "init"}
	rootExpires := o.Now.Add(o.RootExpiry)
	for i, gun := range o.GUNs {
		ts, _ := req.ServerKey(gun, data.CanonicalTimestampRole)
		ss, _ := req.ServerKey(gun, data.CanonicalSnapshotRole)
		targetsKey := sharedTargets
		if targetsKey == nil {
			label := TargetsLabel(gun)
			k, err := targetsBackend.Generate(ctx, hsm.KeySpec{Label: label})
			if err != nil {
				if errors.Is(err, hsm.ErrExists) {
					return nil, fmt.Errorf("%s: a key labelled %q is already on the targets device: %w (pass --targets-key to reuse it, or remove it)", gun, label, err)
				}
				return nil, fmt.Errorf("%s: creating the targets key: %w", gun, err)
			}
			created = append(created, createdKey{targetsBackend, k.URI()})
			targetsKey = k
		}
		repo, err := trust.CreateRepository(ks, trust.NewRepoSpec{
			GUN: gun, RootKeys: rootKeys, RootThreshold: o.RootThreshold, TargetsKey: targetsKey,
			Timestamp: ts, Snapshot: ss, Now: o.Now, RootExpires: rootExpires,
			TargetsExpiry: o.Now.Add(o.TargetsExpiry), Rand: rand.Reader,
		})
		if err != nil {
			return nil, err
		}
		files[bundle.RepoFile(gun, "root.json")] = repo.Root
		files[bundle.RepoFile(gun, "targets.json")] = repo.Targets
		info.Repos = append(info.Repos, bundle.SignedRepo{GUN: gun, New: true, Upload: []string{"root", "targets"},
			RootVersion: 1, RootExpires: repo.RootExpires, RootKeyIDs: repo.RootKeyIDs,
			RootCanonicalIDs: repo.RootKeyBare, TargetsKeyID: repo.TargetsKeyID})
		ir := InitRepo{GUN: gun, RootKeyIDs: repo.RootKeyIDs, RootCanonicalIDs: repo.RootKeyBare,
			TargetsKeyID: repo.TargetsKeyID, TargetsKeyURI: targetsKey.URI(), RootExpires: repo.RootExpires}
		res.Repos = append(res.Repos, ir)
		if err := t.Append("repo.init", struct {
			InitRepo
			RootSHA256    string `json:"root_sha256"`
			TargetsSHA256 string `json:"targets_sha256"`
		}{ir, sha256hex(repo.Root), sha256hex(repo.Targets)}); err != nil {
			return nil, err
		}
		if o.Progress != nil {
			o.Progress(i+1, len(o.GUNs), gun)
		}
	}
	res.Signatures = ks.Signatures()
	res.Rehearsal = d.soft
	info.Rehearsal = d.soft

	if err := t.Append("ceremony.end", map[string]any{"signatures": res.Signatures, "repos": len(o.GUNs)}); err != nil {
		return nil, err
	}
	if err := bundle.WriteSigned(o.Out, info, files, req, t.Bytes()); err != nil {
		return nil, err
	}
	// Nothing unverified leaves the room: read the bundle back as verify would.
	var incomplete *IncompleteError
	if _, err := VerifyWith(o.Out, o.Now, VerifyOptions{Registry: env.Registry}); err != nil && !errors.As(err, &incomplete) {
		os.RemoveAll(o.Out)
		return nil, fmt.Errorf("the bundle just written does not verify (removed): %w", err)
	}
	return res, nil
}

// TargetsLabel is the label of the targets key Init creates for a GUN.
func TargetsLabel(gun string) string { return "targets:" + gun }

// ExistsError is an init of a repository the server already has.
type ExistsError struct {
	GUN     string
	Version int
}

func (e *ExistsError) Error() string {
	return fmt.Sprintf("%s already exists on the server (root version %d); init only creates new repositories", e.GUN, e.Version)
}

type createdKey struct {
	b   hsm.Backend
	uri string
}

// rollback destroys keys a failed run created and says so in the error.
func rollback(ctx context.Context, created []createdKey, cause error) error {
	if len(created) == 0 {
		return cause
	}
	var failed []string
	for _, c := range created {
		if err := c.b.Delete(ctx, c.uri); err != nil {
			failed = append(failed, fmt.Sprintf("%s (%v)", c.uri, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w; the targets keys this run created could not all be removed: %v", cause, failed)
	}
	return cause
}

func checkInit(o InitOptions) error {
	if err := checkGUNs(o.GUNs); err != nil {
		return err
	}
	if len(o.RootKeys) == 0 {
		return errNoKeys
	}
	if err := checkRootExpiry(o.RootExpiry); err != nil {
		return err
	}
	if o.TargetsExpiry <= 0 {
		return errors.New("targets expiry must be positive")
	}
	return checkNewOutput(o.Out)
}
