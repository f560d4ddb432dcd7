package ceremony

import (
	"context"
	"crypto"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// RotateRootOptions control RotateRoot.
type RotateRootOptions struct {
	UpdateOptions
	NewRootKeys []string // key URIs: each gets a certificate per GUN
	Threshold   int      // of the new root role; 0 means 1
	RootExpiry  time.Duration
}

// RotateRoot replaces the root keys: new certificates for the new keys,
// and a root signed by a threshold of the OLD keys (clients that trust the
// current root check those) and of the NEW ones. It refuses, before
// anything is signed, when the old threshold cannot be met.
func RotateRoot(ctx context.Context, env Env, o RotateRootOptions) (*UpdateResult, error) {
	if err := checkRootExpiry(o.RootExpiry); err != nil {
		return nil, err
	}
	if len(o.NewRootKeys) == 0 {
		return nil, fmt.Errorf("no new root key given: --new-root-key URI")
	}
	threshold := o.Threshold
	if threshold == 0 {
		threshold = 1
	}
	if threshold > len(o.NewRootKeys) {
		return nil, fmt.Errorf("threshold %d is more than the %d new root keys", threshold, len(o.NewRootKeys))
	}
	expires := o.Now.Add(o.RootExpiry)
	var newKeys []crypto.Signer
	setup := func(ctx context.Context, s *session) error {
		seen := map[string]bool{}
		for _, uri := range o.NewRootKeys {
			k, err := s.devices.key(ctx, uri)
			if err != nil {
				return wrapDevice(uri, err)
			}
			pub, err := s.keys.Add(k, data.CanonicalRootRole)
			if err != nil {
				return err
			}
			if seen[pub.ID()] {
				return fmt.Errorf("new root key %s is given twice", trust.ShortID(pub.ID()))
			}
			seen[pub.ID()] = true
			s.atHand[pub.ID()] = true
			newKeys = append(newKeys, k)
		}
		return nil
	}
	check := func(s *session, cur *trust.Current) error {
		return needRole(s, cur, data.CanonicalRootRole, true)
	}
	mutate := func(ctx context.Context, s *session, cur *trust.Current) (*change, error) {
		root, err := cur.NextRoot(expires)
		if err != nil {
			return nil, err
		}
		oldKeys, _, _ := trust.RoleKeys(cur.Root, data.CanonicalRootRole)
		var certs []data.PublicKey
		for _, k := range newKeys {
			_, pub, err := s.keys.Certify(k, cur.GUN, o.Now.Add(-time.Minute), expires, rand.Reader)
			if err != nil {
				return nil, err
			}
			certs = append(certs, pub)
		}
		trust.SetRootRole(root, data.CanonicalRootRole, certs, threshold)
		var ids []string
		for _, c := range certs {
			ids = append(ids, c.ID())
		}
		return &change{root: root, rootSigners: append(oldKeys, certs...),
			event: map[string]any{"root_version": root.Signed.Version, "new_root_key_ids": ids, "threshold": threshold}}, nil
	}
	return runUpdate(ctx, env, "rotate-root", o.UpdateOptions, setup, check, mutate)
}

// RotateTargetsOptions control RotateTargets.
type RotateTargetsOptions struct {
	UpdateOptions
	NewTargetsKey string
}

// RotateTargets is the recovery after a lost or compromised repository
// key: root (re-signed by the root keys) names the new targets key, and
// targets.json — its targets and delegations unchanged — is signed by it.
// What delegations signed before stays valid.
func RotateTargets(ctx context.Context, env Env, o RotateTargetsOptions) (*UpdateResult, error) {
	var newPub data.PublicKey
	setup := func(ctx context.Context, s *session) error {
		k, err := s.devices.key(ctx, o.NewTargetsKey)
		if err != nil {
			return wrapDevice(o.NewTargetsKey, err)
		}
		if newPub, err = s.keys.Add(k, data.CanonicalTargetsRole); err != nil {
			return err
		}
		s.atHand[newPub.ID()] = true
		return nil
	}
	check := func(s *session, cur *trust.Current) error {
		return needRole(s, cur, data.CanonicalRootRole, false)
	}
	mutate := func(ctx context.Context, s *session, cur *trust.Current) (*change, error) {
		root, err := cur.NextRoot(cur.Root.Signed.Expires)
		if err != nil {
			return nil, err
		}
		trust.SetRootRole(root, data.CanonicalTargetsRole, []data.PublicKey{newPub}, 1)
		targets, err := cur.NextTargets(time.Time{})
		if err != nil {
			return nil, err
		}
		rootKeys, _, _ := trust.RoleKeys(cur.Root, data.CanonicalRootRole)
		old, _, _ := trust.RoleKeys(cur.Root, data.CanonicalTargetsRole)
		var oldIDs []string
		for _, k := range old {
			oldIDs = append(oldIDs, k.ID())
		}
		return &change{root: root, rootSigners: rootKeys, targets: targets, targetsSigners: []data.PublicKey{newPub},
			event: map[string]any{"old_targets_key_ids": oldIDs, "new_targets_key_id": newPub.ID()}}, nil
	}
	return runUpdate(ctx, env, "rotate-targets", o.UpdateOptions, setup, check, mutate)
}

// RotateSnapshotOptions control RotateSnapshot.
type RotateSnapshotOptions struct {
	UpdateOptions
	ToClient    bool   // true: client-managed with SnapshotKey; false: back to the server's key
	SnapshotKey string // the new client snapshot key (with ToClient)
}

// RotateSnapshot switches repositories between a server-managed snapshot
// key (the server signs every snapshot: docker's default) and a
// client-managed one (every later change must carry a snapshot signed by
// that key, including the delegations' publishes).
func RotateSnapshot(ctx context.Context, env Env, o RotateSnapshotOptions) (*UpdateResult, error) {
	var clientKey data.PublicKey
	setup := func(ctx context.Context, s *session) error {
		if !o.ToClient {
			return nil
		}
		k, err := s.devices.key(ctx, o.SnapshotKey)
		if err != nil {
			return wrapDevice(o.SnapshotKey, err)
		}
		if clientKey, err = s.keys.Add(k, data.CanonicalSnapshotRole); err != nil {
			return err
		}
		s.atHand[clientKey.ID()] = true
		return nil
	}
	check := func(s *session, cur *trust.Current) error {
		server, err := s.req.ServerKey(cur.GUN, data.CanonicalSnapshotRole)
		if err != nil {
			return err
		}
		if managed := trust.ServerManagedSnapshot(cur.Root, server); managed != o.ToClient {
			if managed {
				return fmt.Errorf("%s: the snapshot is server-managed already", cur.GUN)
			}
			return fmt.Errorf("%s: the snapshot is client-managed already; to change its key, switch to the server and back", cur.GUN)
		}
		return needRole(s, cur, data.CanonicalRootRole, false)
	}
	mutate := func(ctx context.Context, s *session, cur *trust.Current) (*change, error) {
		root, err := cur.NextRoot(cur.Root.Signed.Expires)
		if err != nil {
			return nil, err
		}
		key := clientKey
		if !o.ToClient {
			if key, err = s.req.ServerKey(cur.GUN, data.CanonicalSnapshotRole); err != nil {
				return nil, err
			}
		}
		trust.SetRootRole(root, data.CanonicalSnapshotRole, []data.PublicKey{key}, 1)
		rootKeys, _, _ := trust.RoleKeys(cur.Root, data.CanonicalRootRole)
		mode := "server"
		if o.ToClient {
			mode = "client"
		}
		return &change{root: root, rootSigners: rootKeys,
			event: map[string]any{"snapshot_managed_by": mode, "snapshot_key_id": key.ID()}}, nil
	}
	return runUpdate(ctx, env, "rotate-snapshot", o.UpdateOptions, setup, check, mutate)
}
