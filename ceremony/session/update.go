package session

import (
	"context"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// UpdateOptions are shared by the operations that change existing
// repositories (refresh, rotate, signer, repository-key recovery).
type UpdateOptions struct {
	Request string   // request bundle with the repositories' current metadata
	Out     string   // signed bundle to create
	GUNs    []string // repositories to change
	Keys    []string // key URIs at hand that may sign (root keys, targets key)
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

// UpdateResult is what an update reports.
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

// Change is one repository's new metadata before signing.
type Change struct {
	Root           *data.SignedRoot    // nil: root unchanged
	Targets        *data.SignedTargets // nil: targets unchanged
	RootSigners    []data.PublicKey    // keys whose signatures root needs
	TargetsSigners []data.PublicKey
	// Delegations are delegation roles to sign, parents first, each by a
	// threshold of the keys its parent lists (delegations.go).
	Delegations []trust.DelegationChange
	Event       map[string]any // what the transcript records beyond the files
}

// Update describes one update operation for the frame.
type Update struct {
	UpdateOptions
	// Setup opens keys beyond UpdateOptions.Keys (new keys to certify or
	// to name in root); optional.
	Setup func(ctx context.Context, b *Batch) error
	// Check refuses a repository before anything is signed; optional.
	Check func(b *Batch, cur *trust.Current) error
	// Mutate computes one repository's change. It must not sign: every
	// repository is checked before anything is signed.
	Mutate func(ctx context.Context, b *Batch, cur *trust.Current) (*Change, error)
	// RootRoles are the base roles of root the command may change (their
	// keys or threshold); any other difference refuses the change.
	RootRoles []data.RoleName
}

// Batch is what an update's callbacks can use: the session, the request
// bundle, and the keys at hand.
type Batch struct {
	*Session
	Request *bundle.Request
	Keys    *trust.KeyService
	atHand  map[string]bool // canonical IDs of the keys at hand
}

// AddKey opens a key and puts it at hand for role ("" for any role).
func (b *Batch) AddKey(ctx context.Context, uri string, role data.RoleName) (hsm.Key, data.PublicKey, error) {
	k, err := b.Key(ctx, uri)
	if err != nil {
		return nil, nil, err
	}
	pub, err := b.Keys.Add(k, role)
	if err != nil {
		return nil, nil, err
	}
	b.atHand[pub.ID()] = true
	return k, pub, nil
}

// RunUpdate is the frame every update shares: read and check the request
// bundle and current metadata, open the keys at hand, check and compute
// every change, then sign, write the bundle whole and verify it.
func RunUpdate(ctx context.Context, env Env, command string, u Update) (*UpdateResult, error) {
	if err := CheckGUNs(u.GUNs); err != nil {
		return nil, err
	}
	if err := CheckNewOutput(u.Out); err != nil {
		return nil, err
	}
	req, err := bundle.ReadRequest(u.Request)
	if err != nil {
		return nil, err
	}
	s := New(env, command)
	defer s.Close()
	currents, err := s.loadCurrents(req, u.Request, u.GUNs)
	if err != nil {
		return nil, err
	}
	b := &Batch{Session: s, Request: req, Keys: trust.NewKeyService(), atHand: map[string]bool{}}
	for _, uri := range u.Keys {
		if _, _, err := b.AddKey(ctx, uri, ""); err != nil {
			return nil, err
		}
	}
	if u.Setup != nil {
		if err := u.Setup(ctx, b); err != nil {
			return nil, err
		}
	}
	changes, err := b.plan(ctx, u, currents)
	if err != nil {
		return nil, err
	}
	if err := b.preview(currents, changes); err != nil {
		return nil, err
	}
	return b.sign(u, currents, changes)
}

// loadCurrents loads each GUN's current metadata from the request bundle:
// root only as this machine's trust store lets it (TrustCurrent), targets
// against that root, before any device is opened.
func (s *Session) loadCurrents(req *bundle.Request, dir string, guns []string) ([]*trust.Current, error) {
	currents := make([]*trust.Current, len(guns))
	for i, gun := range guns {
		r, ok := req.Repo(gun)
		if !ok {
			return nil, &NotInRequestError{GUN: gun, Request: dir}
		}
		if !r.Exists {
			return nil, &NotOnServerError{GUN: gun}
		}
		t, err := s.TrustCurrent(req, gun)
		if err != nil {
			return nil, err
		}
		cur, err := trust.LoadCurrentTrusted(gun, t.Root, req.Metadata(gun, data.CanonicalRootRole), req.Metadata(gun, data.CanonicalTargetsRole))
		if err != nil {
			return nil, err
		}
		// The current snapshot and timestamp are carried along, and a
		// client-managed snapshot's next version keeps the entries of the
		// roles it does not change: each must be signed by the trusted
		// root's keys for its role, not made up by the online machine.
		for _, role := range []data.RoleName{data.CanonicalSnapshotRole, data.CanonicalTimestampRole} {
			if raw := req.Metadata(gun, role); raw != nil {
				if err := trust.VerifyRoleSigned(gun, raw, t.Root, role); err != nil {
					return nil, err
				}
			}
		}
		currents[i] = cur
	}
	return currents, nil
}

// plan checks every repository, then computes every change, before
// anything is signed.
func (b *Batch) plan(ctx context.Context, u Update, currents []*trust.Current) ([]*Change, error) {
	if u.Check != nil {
		for _, cur := range currents {
			if err := u.Check(b, cur); err != nil {
				return nil, err
			}
		}
	}
	changes := make([]*Change, len(currents))
	for i, cur := range currents {
		ch, err := u.Mutate(ctx, b, cur)
		if err != nil {
			return nil, err
		}
		if ch.Root != nil {
			if err := b.checkRootChange(cur, ch, u.RootRoles); err != nil {
				return nil, err
			}
		}
		if err := b.checkDelegationSigners(cur.GUN, ch); err != nil {
			return nil, err
		}
		// A client-managed snapshot must be re-signed with every change,
		// by a key at hand.
		if keys := b.clientSnapshotKeys(cur, ch); keys != nil {
			if have, missing := b.CanSign(keys); len(have) == 0 {
				return nil, &MissingKeysError{GUN: cur.GUN, Role: "snapshot (client-managed)", Threshold: 1, Missing: missing}
			}
		}
		changes[i] = ch
	}
	return changes, nil
}

// sign signs every change, records it, and writes the bundle.
func (b *Batch) sign(u Update, currents []*trust.Current, changes []*Change) (*UpdateResult, error) {
	req := b.Request
	if err := b.Begin(nil, map[string]any{"request_manifest_sha256": bundle.SHA256Hex(req.Manifest), "server": req.Info.Server,
		"keys": u.Keys, "guns": u.GUNs}); err != nil {
		return nil, err
	}
	if err := b.RecordTrust(); err != nil {
		return nil, err
	}
	res := &UpdateResult{Command: b.Command(), Out: u.Out, Server: req.Info.Server}
	info := bundle.SignedInfo{Server: req.Info.Server, Created: b.Now().UTC(), Command: b.Command()}
	files := bundle.Files{}
	for i, ch := range changes {
		sr, err := b.signChange(currents[i], ch, files)
		if err != nil {
			return nil, err
		}
		info.Repos = append(info.Repos, *sr)
		res.Repos = append(res.Repos, UpdateRepo{GUN: sr.GUN, Upload: sr.Upload, RootVersion: sr.RootVersion,
			RootKeyIDs: sr.RootKeyIDs, TargetsKeyID: sr.TargetsKeyID})
		b.Progress(i+1, len(changes), sr.GUN)
	}
	res.Signatures = b.Keys.Signatures()
	res.Rehearsal = b.Software()
	if err := b.SealBy(b.Keys.Used()...); err != nil {
		return nil, err
	}
	if err := b.End(map[string]any{"signatures": res.Signatures, "repos": len(changes)}); err != nil {
		return nil, err
	}
	missing, err := b.WriteSigned(u.Out, info, files, req)
	if err != nil {
		return nil, err
	}
	res.Finish(missing)
	return res, nil
}

// signChange signs one repository's change into files and records it.
func (b *Batch) signChange(cur *trust.Current, ch *Change, files bundle.Files) (*bundle.SignedRepo, error) {
	gun := cur.GUN
	sr := &bundle.SignedRepo{GUN: gun}
	root := cur.Root
	ev := map[string]any{"gun": gun}
	for k, v := range ch.Event {
		ev[k] = v
	}
	if ch.Root != nil {
		out, err := trust.SignedRootBytes(b.Keys, ch.Root, ch.RootSigners)
		if err != nil {
			return nil, fmt.Errorf("%s: signing root: %w", gun, err)
		}
		files[bundle.RepoFile(gun, "root.json")] = out
		sr.Upload = append(sr.Upload, "root")
		root = ch.Root
		ev["root_sha256"] = bundle.SHA256Hex(out)
	}
	if ch.Targets != nil {
		out, err := trust.SignedTargetsBytes(b.Keys, ch.Targets, ch.TargetsSigners)
		if err != nil {
			return nil, fmt.Errorf("%s: signing targets: %w", gun, err)
		}
		files[bundle.RepoFile(gun, "targets.json")] = out
		sr.Upload = append(sr.Upload, "targets")
		ev["targets_sha256"] = bundle.SHA256Hex(out)
	}
	if err := b.signDelegations(gun, ch, sr, files, ev); err != nil {
		return nil, err
	}
	if len(sr.Upload) == 0 {
		return nil, fmt.Errorf("%s: nothing to change", gun)
	}
	if keys := b.clientSnapshotKeys(cur, ch); keys != nil {
		if err := b.signSnapshot(gun, keys, sr, files, ev); err != nil {
			return nil, err
		}
	}
	if err := DescribeRoot(sr, root); err != nil {
		return nil, err
	}
	ev["root_key_ids"] = sr.RootKeyIDs
	return sr, b.Record("repo."+b.Command(), ev)
}

// signSnapshot rebuilds a client-managed snapshot over the changed roles
// and signs it with the snapshot keys at hand.
func (b *Batch) signSnapshot(gun string, keys []data.PublicKey, sr *bundle.SignedRepo, files bundle.Files, ev map[string]any) error {
	changed := map[data.RoleName][]byte{}
	for _, role := range sr.Upload {
		changed[data.RoleName(role)] = files[bundle.RepoFile(gun, role+".json")]
	}
	sn, err := trust.NextSnapshot(b.Request.Metadata(gun, data.CanonicalSnapshotRole), changed, b.Now().Add(trust.DefaultSnapshotExpiry))
	if err != nil {
		return fmt.Errorf("%s: %w", gun, err)
	}
	out, err := trust.SignedSnapshotBytes(b.Keys, sn, keys)
	if err != nil {
		return fmt.Errorf("%s: signing snapshot: %w", gun, err)
	}
	files[bundle.RepoFile(gun, "snapshot.json")] = out
	sr.Upload = append(sr.Upload, "snapshot")
	ev["snapshot_sha256"] = bundle.SHA256Hex(out)
	return nil
}

// Finish marks the result complete, or names per repository what is still
// missing.
func (res *UpdateResult) Finish(missing []string) {
	res.Complete, res.Missing = len(missing) == 0, missing
	for i := range res.Repos {
		res.Repos[i].Complete = true
		for _, m := range missing {
			if strings.HasPrefix(m, res.Repos[i].GUN+" ") {
				res.Repos[i].Complete = false
			}
		}
	}
}

// DescribeRoot fills what bundle.json says about a repository's root.
func DescribeRoot(sr *bundle.SignedRepo, root *data.SignedRoot) error {
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

// CanSign splits a role's keys into those at hand and those missing.
func (b *Batch) CanSign(keys []data.PublicKey) (have []string, missing []string) {
	for _, k := range keys {
		c, err := trust.CanonicalID(k)
		if err == nil && b.atHand[c] {
			have = append(have, c)
		} else {
			missing = append(missing, c)
		}
	}
	return have, missing
}

// NeedRole refuses a repository none of whose keys for a role is at hand
// (or, with all, fewer than the role's threshold), naming what is missing.
func (b *Batch) NeedRole(cur *trust.Current, role data.RoleName, all bool) error {
	keys, threshold, err := trust.RoleKeys(cur.Root, role)
	if err != nil {
		return err
	}
	have, missing := b.CanSign(keys)
	need := 1
	if all {
		need = threshold
	}
	if len(have) < need {
		return &MissingKeysError{GUN: cur.GUN, Role: role.String(), Threshold: threshold, Have: have, Missing: missing}
	}
	return nil
}

// clientSnapshotKeys returns the snapshot keys of the root a change leaves,
// or nil when the server manages the snapshot.
func (b *Batch) clientSnapshotKeys(cur *trust.Current, ch *Change) []data.PublicKey {
	root := cur.Root
	if ch.Root != nil {
		root = ch.Root
	}
	server, err := b.Request.ServerKey(cur.GUN, data.CanonicalSnapshotRole)
	if err != nil || trust.ServerManagedSnapshot(root, server) {
		return nil
	}
	keys, _, _ := trust.RoleKeys(root, data.CanonicalSnapshotRole)
	return keys
}

// MissingKeysError is an operation that cannot meet a role's threshold
// with the keys at hand; nothing was signed.
type MissingKeysError struct {
	GUN       string
	Role      string
	Threshold int
	Have      []string
	Missing   []string
}

func (e *MissingKeysError) Error() string {
	return fmt.Sprintf("%s: the current %s role needs %d signature(s) from its keys; at hand: %s; missing key IDs: %s (nothing was signed)",
		e.GUN, e.Role, e.Threshold, trust.ListIDs(e.Have, false), trust.ListIDs(e.Missing, false))
}
