package ceremony

import (
	"context"
	"errors"
	"fmt"

	"github.com/docker/go/canonical/json"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// SignOptions control Sign.
type SignOptions struct {
	Bundle string   // signed bundle to add signatures to
	Out    string   // new signed bundle
	Keys   []string // key URIs of this holder
}

// Sign adds one more holder's signatures to every piece of metadata in a
// bundle that the holder's keys may sign, and writes a new bundle whose
// transcript continues the old one.
func Sign(ctx context.Context, env session.Env, o SignOptions) (*session.UpdateResult, error) {
	if len(o.Keys) == 0 {
		return nil, &session.MissingInputError{What: "key"}
	}
	if err := session.CheckNewOutput(o.Out); err != nil {
		return nil, err
	}
	in, err := bundle.ReadSigned(o.Bundle)
	if err != nil {
		return nil, err
	}
	var inc *verify.IncompleteError
	if _, err := verify.Signed(in, env.Now(), env.VerifyOptions()); err != nil && !errors.As(err, &inc) {
		return nil, err
	}
	s := session.New(env, "sign")
	defer s.Close()
	// The root a changed root replaces must be one this machine trusts.
	for _, r := range in.Info.Repos {
		if q, ok := in.Request.Repo(r.GUN); ok && q.Exists {
			if _, err := s.TrustContinued(in.Request, r.GUN, in.RepoMetadata(r.GUN, "root")); err != nil {
				return nil, err
			}
		}
	}
	ks := trust.NewKeyService()
	for _, uri := range o.Keys {
		k, err := s.Key(ctx, uri)
		if err != nil {
			return nil, err
		}
		if _, err := ks.Add(k, ""); err != nil {
			return nil, err
		}
	}
	if err := previewSign(s, in); err != nil {
		return nil, err
	}
	if err := s.Continue(in, map[string]any{"keys": o.Keys}); err != nil {
		return nil, err
	}
	if err := s.RecordTrust(); err != nil {
		return nil, err
	}
	res := &session.UpdateResult{Command: "sign", Out: o.Out, Server: in.Info.Server}
	files := bundle.Files{}
	for _, r := range in.Info.Repos {
		if err := signRepo(s, ks, in, r, files); err != nil {
			return nil, err
		}
		res.Repos = append(res.Repos, session.UpdateRepo{GUN: r.GUN, Upload: r.Upload, RootVersion: r.RootVersion,
			RootKeyIDs: r.RootKeyIDs, TargetsKeyID: r.TargetsKeyID})
	}
	res.Signatures = ks.Signatures()
	if res.Signatures == 0 {
		return nil, errors.New("none of the keys given may sign anything in this bundle (or they have signed it already)")
	}
	res.Rehearsal = in.Info.Rehearsal || s.Software()
	if err := s.SealBy(ks.Used()...); err != nil {
		return nil, err
	}
	if err := s.End(map[string]any{"signatures": res.Signatures}); err != nil {
		return nil, err
	}
	verify.CarryAttestations(in, files)
	missing, err := s.WriteSigned(o.Out, in.Info, files, in.Request)
	if err != nil {
		return nil, err
	}
	res.Finish(missing)
	return res, nil
}

// signRepo adds the holder's signatures to one repository's metadata:
// root (the new root's keys and, when it replaces one, the previous
// root's), targets, and a client-managed snapshot rebuilt over them.
func signRepo(s *session.Session, ks *trust.KeyService, in *bundle.Signed, r bundle.SignedRepo, files bundle.Files) error {
	ev := map[string]any{"gun": r.GUN, "root_key_ids": r.RootKeyIDs}
	root := in.RepoMetadata(r.GUN, "root")
	current := in.Request.Metadata(r.GUN, data.CanonicalRootRole)
	rootForTargets := current
	if root != nil {
		allowed, err := rootKeysOf(root)
		if err != nil {
			return err
		}
		if current != nil {
			prev, err := rootKeysOf(current)
			if err != nil {
				return err
			}
			allowed = append(allowed, prev...)
		}
		if root, err = trust.Resign(ks, root, allowed); err != nil {
			return fmt.Errorf("%s: root: %w", r.GUN, err)
		}
		files[bundle.RepoFile(r.GUN, "root.json")] = root
		ev["root_sha256"] = bundle.SHA256Hex(root)
		rootForTargets = root
	}
	if targets := in.RepoMetadata(r.GUN, "targets"); targets != nil {
		allowed, err := roleKeysOf(rootForTargets, data.CanonicalTargetsRole)
		if err != nil {
			return err
		}
		if targets, err = trust.Resign(ks, targets, allowed); err != nil {
			return fmt.Errorf("%s: targets: %w", r.GUN, err)
		}
		files[bundle.RepoFile(r.GUN, "targets.json")] = targets
		ev["targets_sha256"] = bundle.SHA256Hex(targets)
	}
	// Delegation roles (incident paths, revoke) are carried as signed: a
	// holder of root keys adds nothing to them.
	delegations := map[string]string{}
	for _, role := range r.Upload {
		if data.IsDelegation(data.RoleName(role)) {
			b := in.RepoMetadata(r.GUN, role)
			files[bundle.RepoFile(r.GUN, role+".json")] = b
			delegations[role] = bundle.SHA256Hex(b)
		}
	}
	if len(delegations) > 0 {
		ev["delegations_sha256"] = delegations
	}
	if old := in.RepoMetadata(r.GUN, "snapshot"); old != nil {
		b, err := resignSnapshot(ks, in, r, files, old, rootForTargets)
		if err != nil {
			return fmt.Errorf("%s: snapshot: %w", r.GUN, err)
		}
		files[bundle.RepoFile(r.GUN, "snapshot.json")] = b
		ev["snapshot_sha256"] = bundle.SHA256Hex(b)
	}
	return s.Record("repo.sign", ev)
}

func rootKeysOf(b []byte) ([]data.PublicKey, error) { return roleKeysOf(b, data.CanonicalRootRole) }

func roleKeysOf(b []byte, role data.RoleName) ([]data.PublicKey, error) {
	var sr data.SignedRoot
	if err := json.Unmarshal(b, &sr); err != nil {
		return nil, err
	}
	keys, _, err := trust.RoleKeys(&sr, role)
	return keys, err
}

// resignSnapshot rebuilds a client-managed snapshot over the files as they
// are after this holder's signatures, keeping the snapshot signatures that
// still hold and adding those of the keys at hand.
func resignSnapshot(ks *trust.KeyService, s *bundle.Signed, r bundle.SignedRepo, files bundle.Files, old, root []byte) ([]byte, error) {
	var prev data.Signed
	if err := json.Unmarshal(old, &prev); err != nil {
		return nil, err
	}
	prevSn, err := data.SnapshotFromSigned(&prev)
	if err != nil {
		return nil, err
	}
	changed := map[data.RoleName][]byte{}
	for _, role := range r.Upload {
		if role == "snapshot" {
			continue
		}
		b := files[bundle.RepoFile(r.GUN, role+".json")]
		if b == nil {
			b = s.RepoMetadata(r.GUN, role)
		}
		changed[data.RoleName(role)] = b
	}
	sn, err := trust.NextSnapshot(s.Request.Metadata(r.GUN, data.CanonicalSnapshotRole), changed, prevSn.Signed.Expires)
	if err != nil {
		return nil, err
	}
	signedSn, err := sn.ToSigned()
	if err != nil {
		return nil, err
	}
	signedSn.Signatures = prev.Signatures
	keys, err := roleKeysOf(root, data.CanonicalSnapshotRole)
	if err != nil {
		return nil, err
	}
	if err := trust.AddSignatures(ks, signedSn, keys); err != nil {
		return nil, err
	}
	return trust.Marshal(signedSn)
}
