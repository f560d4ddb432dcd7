package ceremony

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// UpdateOptions are shared by the ceremonies that change existing
// repositories (refresh, rotate, signer).
type UpdateOptions struct {
	Request  string   // request bundle with the repositories' current metadata
	Out      string   // signed bundle to create
	GUNs     []string // repositories to change
	Keys     []string // key URIs at hand that may sign (root keys, targets key)
	Now      time.Time
	Args     []string
	Progress func(done, total int, gun string)
}

// UpdateRepo is what an update did to one GUN.
type UpdateRepo struct {
	GUN          string   `json:"gun"`
	Upload       []string `json:"upload"`
	RootVersion  int      `json:"root_version"`
	RootKeyIDs   []string `json:"root_key_ids"`
	TargetsKeyID string   `json:"targets_key_id"`
	Complete     bool     `json:"complete"`
}

// UpdateResult is what an update ceremony reports.
type UpdateResult struct {
	Command    string       `json:"command"`
	Out        string       `json:"out"`
	Server     string       `json:"server"`
	Rehearsal  bool         `json:"rehearsal"`
	Signatures int64        `json:"signatures"`
	Complete   bool         `json:"complete"` // every threshold met: ready to publish
	Missing    []string     `json:"missing,omitempty"`
	Repos      []UpdateRepo `json:"repos"`
}

// change is one repository's new metadata before signing.
type change struct {
	root           *data.SignedRoot    // nil: root unchanged
	targets        *data.SignedTargets // nil: targets unchanged
	rootSigners    []data.PublicKey    // keys whose signatures root needs
	targetsSigners []data.PublicKey
	event          map[string]any // what the transcript records beyond the files
}

// session is what a mutation can use: the devices and the keys at hand.
type session struct {
	req     *bundle.Request
	devices *devices
	keys    *trust.KeyService
	atHand  map[string]bool // canonical IDs of the keys at hand
}

// mutation computes one repository's change. It must not sign: every
// repository is checked before anything is signed.
type mutation func(ctx context.Context, s *session, cur *trust.Current) (*change, error)

// runUpdate is the frame every update ceremony shares: read and check the
// request bundle and current metadata, open the keys at hand, compute every
// change, then sign, write the bundle whole and verify it.
func runUpdate(ctx context.Context, env Env, command string, o UpdateOptions, setup func(context.Context, *session) error, check func(*session, *trust.Current) error, mutate mutation) (res *UpdateResult, err error) {
	if err := checkUpdate(o); err != nil {
		return nil, err
	}
	req, err := bundle.ReadRequest(o.Request)
	if err != nil {
		return nil, err
	}
	currents := make([]*trust.Current, len(o.GUNs))
	for i, gun := range o.GUNs {
		r, ok := req.Repo(gun)
		if !ok {
			return nil, fmt.Errorf("%s is not in the request bundle %s: fetch it first", gun, o.Request)
		}
		if !r.Exists {
			return nil, fmt.Errorf("%s does not exist on the server yet: create it with keyrite init", gun)
		}
		if currents[i], err = trust.LoadCurrent(gun, req.Metadata(gun, data.CanonicalRootRole), req.Metadata(gun, data.CanonicalTargetsRole)); err != nil {
			return nil, err
		}
	}

	d := newDevices(env)
	defer d.close()
	s := &session{req: req, devices: d, keys: trust.NewKeyService(), atHand: map[string]bool{}}
	for _, uri := range o.Keys {
		k, err := d.key(ctx, uri)
		if err != nil {
			return nil, wrapDevice(uri, err)
		}
		pub, err := s.keys.Add(k, "")
		if err != nil {
			return nil, err
		}
		s.atHand[pub.ID()] = true
	}
	if setup != nil {
		if err := setup(ctx, s); err != nil {
			return nil, err
		}
	}

	// Every repository is checked before anything is signed.
	if check != nil {
		for _, cur := range currents {
			if err := check(s, cur); err != nil {
				return nil, err
			}
		}
	}
	changes := make([]*change, len(currents))
	for i, cur := range currents {
		if changes[i], err = mutate(ctx, s, cur); err != nil {
			return nil, err
		}
		// A client-managed snapshot must be re-signed with every change,
		// by a key at hand.
		if keys := s.clientSnapshotKeys(cur, changes[i]); keys != nil {
			if have, missing := s.canSign(keys); len(have) == 0 {
				return nil, &MissingKeysError{GUN: cur.GUN, Role: "snapshot (client-managed)", Threshold: 1, Missing: missing}
			}
		}
	}

	t, err := NewTranscript(nil, command, time.Now)
	if err != nil {
		return nil, err
	}
	if err := t.Append("ceremony.start", map[string]any{
		"args": o.Args, "request_manifest_sha256": sha256hex(req.Manifest), "server": req.Info.Server,
		"devices": d.events, "rehearsal": d.soft, "keys": o.Keys, "guns": o.GUNs,
	}); err != nil {
		return nil, err
	}
	res = &UpdateResult{Command: command, Out: o.Out, Server: req.Info.Server}
	info := bundle.SignedInfo{Server: req.Info.Server, Created: o.Now.UTC(), Command: command}
	files := bundle.Files{}
	for i, ch := range changes {
		cur := currents[i]
		gun := cur.GUN
		sr := bundle.SignedRepo{GUN: gun}
		root := cur.Root
		ev := map[string]any{"gun": gun}
		for k, v := range ch.event {
			ev[k] = v
		}
		if ch.root != nil {
			b, err := trust.SignedRootBytes(s.keys, ch.root, ch.rootSigners)
			if err != nil {
				return nil, fmt.Errorf("%s: signing root: %w", gun, err)
			}
			files[bundle.RepoFile(gun, "root.json")] = b
			sr.Upload = append(sr.Upload, "root")
			root = ch.root
			ev["root_sha256"] = sha256hex(b)
		}
		if ch.targets != nil {
			b, err := trust.SignedTargetsBytes(s.keys, ch.targets, ch.targetsSigners)
			if err != nil {
				return nil, fmt.Errorf("%s: signing targets: %w", gun, err)
			}
			files[bundle.RepoFile(gun, "targets.json")] = b
			sr.Upload = append(sr.Upload, "targets")
			ev["targets_sha256"] = sha256hex(b)
		}
		if len(sr.Upload) == 0 {
			return nil, fmt.Errorf("%s: nothing to change", gun)
		}
		if keys := s.clientSnapshotKeys(cur, ch); keys != nil {
			changed := map[data.RoleName][]byte{}
			for _, role := range sr.Upload {
				changed[data.RoleName(role)] = files[bundle.RepoFile(gun, role+".json")]
			}
			sn, err := trust.NextSnapshot(req.Metadata(gun, data.CanonicalSnapshotRole), changed, o.Now.Add(trust.DefaultSnapshotExpiry))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", gun, err)
			}
			b, err := trust.SignedSnapshotBytes(s.keys, sn, keys)
			if err != nil {
				return nil, fmt.Errorf("%s: signing snapshot: %w", gun, err)
			}
			files[bundle.RepoFile(gun, "snapshot.json")] = b
			sr.Upload = append(sr.Upload, "snapshot")
			ev["snapshot_sha256"] = sha256hex(b)
		}
		if err := describeRoot(&sr, root); err != nil {
			return nil, err
		}
		ev["root_key_ids"] = sr.RootKeyIDs
		info.Repos = append(info.Repos, sr)
		res.Repos = append(res.Repos, UpdateRepo{GUN: gun, Upload: sr.Upload, RootVersion: sr.RootVersion,
			RootKeyIDs: sr.RootKeyIDs, TargetsKeyID: sr.TargetsKeyID})
		if err := t.Append("repo."+command, ev); err != nil {
			return nil, err
		}
		if o.Progress != nil {
			o.Progress(i+1, len(changes), gun)
		}
	}
	res.Signatures = s.keys.Signatures()
	res.Rehearsal, info.Rehearsal = d.soft, d.soft
	if err := t.Append("ceremony.end", map[string]any{"signatures": res.Signatures, "repos": len(changes)}); err != nil {
		return nil, err
	}
	if err := bundle.WriteSigned(o.Out, info, files, req, t.Bytes()); err != nil {
		return nil, err
	}
	return res, finishUpdate(res, o.Out, o.Now, VerifyOptions{Registry: env.Registry})
}

// describeRoot fills what bundle.json says about a repository's root.
func describeRoot(sr *bundle.SignedRepo, root *data.SignedRoot) error {
	keys, _, err := trust.RoleKeys(root, data.CanonicalRootRole)
	if err != nil {
		return err
	}
	sr.RootVersion, sr.RootExpires = root.Signed.Version, root.Signed.Expires
	sr.RootKeyIDs, sr.RootCanonicalIDs = nil, nil
	for _, k := range keys {
		sr.RootKeyIDs = append(sr.RootKeyIDs, k.ID())
		c, err := trust.CanonicalID(k)
		if err != nil {
			return err
		}
		sr.RootCanonicalIDs = append(sr.RootCanonicalIDs, c)
	}
	tk, _, err := trust.RoleKeys(root, data.CanonicalTargetsRole)
	if err != nil {
		return err
	}
	if len(tk) > 0 {
		sr.TargetsKeyID = tk[0].ID()
	}
	return nil
}

// finishUpdate verifies the bundle just written, as verify would; a bundle
// still waiting for other holders' signatures is a result, not a failure.
func finishUpdate(res *UpdateResult, out string, now time.Time, vo VerifyOptions) error {
	_, err := VerifyWith(out, now, vo)
	var inc *IncompleteError
	switch {
	case err == nil:
		res.Complete = true
	case errors.As(err, &inc):
		res.Missing = inc.Missing
	default:
		os.RemoveAll(out)
		return fmt.Errorf("the bundle just written does not verify (removed): %w", err)
	}
	for i := range res.Repos {
		res.Repos[i].Complete = true
		for _, m := range res.Missing {
			if len(m) > len(res.Repos[i].GUN) && m[:len(res.Repos[i].GUN)+1] == res.Repos[i].GUN+" " {
				res.Repos[i].Complete = false
			}
		}
	}
	return nil
}

func checkUpdate(o UpdateOptions) error {
	if err := checkGUNs(o.GUNs); err != nil {
		return err
	}
	return checkNewOutput(o.Out)
}

// checkGUNs refuses an empty list, an invalid name or a name given twice.
func checkGUNs(guns []string) error {
	if len(guns) == 0 {
		return errors.New("no GUN given")
	}
	seen := map[string]bool{}
	for _, g := range guns {
		if err := trust.ValidateGUN(g); err != nil {
			return err
		}
		if seen[g] {
			return fmt.Errorf("%s is given twice", g)
		}
		seen[g] = true
	}
	return nil
}

// checkNewOutput refuses an output that exists: bundles are never
// overwritten or merged into.
func checkNewOutput(out string) error {
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("output %s already exists; keyrite never overwrites a bundle: choose a new -o directory", out)
	}
	return nil
}

// canSign counts the keys of a role that are at hand.
func (s *session) canSign(keys []data.PublicKey) (have []string, missing []string) {
	for _, k := range keys {
		c, err := trust.CanonicalID(k)
		if err == nil && s.atHand[c] {
			have = append(have, c)
		} else {
			missing = append(missing, c)
		}
	}
	return have, missing
}

// clientSnapshotKeys returns the snapshot keys of the root a change leaves,
// or nil when the server manages the snapshot.
func (s *session) clientSnapshotKeys(cur *trust.Current, ch *change) []data.PublicKey {
	root := cur.Root
	if ch.root != nil {
		root = ch.root
	}
	server, err := s.req.ServerKey(cur.GUN, data.CanonicalSnapshotRole)
	if err != nil || trust.ServerManagedSnapshot(root, server) {
		return nil
	}
	keys, _, _ := trust.RoleKeys(root, data.CanonicalSnapshotRole)
	return keys
}
