package ceremony

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/go/canonical/json"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// SignOptions control Sign.
type SignOptions struct {
	Bundle string   // signed bundle to add signatures to
	Out    string   // new signed bundle
	Keys   []string // key URIs of this holder
	Now    time.Time
	Args   []string
}

// Sign adds one more holder's signatures to every piece of metadata in a
// bundle that the holder's keys may sign, and writes a new bundle whose
// transcript continues the old one.
func Sign(ctx context.Context, env Env, o SignOptions) (res *UpdateResult, err error) {
	if len(o.Keys) == 0 {
		return nil, errors.New("no key given: --key URI")
	}
	if err := checkNewOutput(o.Out); err != nil {
		return nil, err
	}
	s, err := bundle.ReadSigned(o.Bundle)
	if err != nil {
		return nil, err
	}
	var inc *IncompleteError
	if _, err := verifySignedWith(s, o.Now, VerifyOptions{Registry: env.Registry}); err != nil && !errors.As(err, &inc) {
		return nil, err
	}
	d := newDevices(env)
	defer d.close()
	ks := trust.NewKeyService()
	for _, uri := range o.Keys {
		k, err := d.key(ctx, uri)
		if err != nil {
			return nil, wrapDevice(uri, err)
		}
		if _, err := ks.Add(k, ""); err != nil {
			return nil, err
		}
	}
	t, err := NewTranscript(s.Files[bundle.TranscriptName], "sign", time.Now)
	if err != nil {
		return nil, err
	}
	if err := t.Append("ceremony.start", map[string]any{"args": o.Args, "devices": d.events, "rehearsal": d.soft, "keys": o.Keys}); err != nil {
		return nil, err
	}
	res = &UpdateResult{Command: "sign", Out: o.Out, Server: s.Info.Server}
	files := bundle.Files{}
	for _, r := range s.Info.Repos {
		ev := map[string]any{"gun": r.GUN, "root_key_ids": r.RootKeyIDs}
		root := s.RepoMetadata(r.GUN, "root")
		current := s.Request.Metadata(r.GUN, data.CanonicalRootRole)
		rootForTargets := current
		if root != nil {
			// The new root needs its own keys and, when it replaces one,
			// the previous root's.
			allowed, err := rootKeysOf(root)
			if err != nil {
				return nil, err
			}
			if current != nil {
				prev, err := rootKeysOf(current)
				if err != nil {
					return nil, err
				}
				allowed = append(allowed, prev...)
			}
			if root, err = trust.Resign(ks, root, allowed); err != nil {
				return nil, fmt.Errorf("%s: root: %w", r.GUN, err)
			}
			files[bundle.RepoFile(r.GUN, "root.json")] = root
			ev["root_sha256"] = sha256hex(root)
			rootForTargets = root
		}
		if targets := s.RepoMetadata(r.GUN, "targets"); targets != nil {
			allowed, err := roleKeysOf(rootForTargets, data.CanonicalTargetsRole)
			if err != nil {
				return nil, err
			}
			if targets, err = trust.Resign(ks, targets, allowed); err != nil {
				return nil, fmt.Errorf("%s: targets: %w", r.GUN, err)
			}
			files[bundle.RepoFile(r.GUN, "targets.json")] = targets
			ev["targets_sha256"] = sha256hex(targets)
		}
		if old := s.RepoMetadata(r.GUN, "snapshot"); old != nil {
			b, err := resignSnapshot(ks, s, r, files, old, rootForTargets)
			if err != nil {
				return nil, fmt.Errorf("%s: snapshot: %w", r.GUN, err)
			}
			files[bundle.RepoFile(r.GUN, "snapshot.json")] = b
			ev["snapshot_sha256"] = sha256hex(b)
		}
		if err := t.Append("repo.sign", ev); err != nil {
			return nil, err
		}
		res.Repos = append(res.Repos, UpdateRepo{GUN: r.GUN, Upload: r.Upload, RootVersion: r.RootVersion,
			RootKeyIDs: r.RootKeyIDs, TargetsKeyID: r.TargetsKeyID})
	}
	res.Signatures = ks.Signatures()
	if res.Signatures == 0 {
		return nil, errors.New("none of the keys given may sign anything in this bundle (or they have signed it already)")
	}
	res.Rehearsal = s.Info.Rehearsal || d.soft
	info := s.Info
	info.Rehearsal = res.Rehearsal
	if err := t.Append("ceremony.end", map[string]any{"signatures": res.Signatures}); err != nil {
		return nil, err
	}
	carryAttestations(s, files)
	if err := bundle.WriteSigned(o.Out, info, files, s.Request, t.Bytes()); err != nil {
		return nil, err
	}
	return res, finishUpdate(res, o.Out, o.Now, VerifyOptions{Registry: env.Registry})
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
