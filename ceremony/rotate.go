package ceremony

import (
	"context"
	"crypto"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// RotateRootOptions control RotateRoot.
type RotateRootOptions struct {
	session.UpdateOptions
	NewRootKeys []string // key URIs: each gets a certificate per GUN
	Threshold   int      // of the new root role; 0 means 1
	RootExpiry  time.Duration
}

// RotateRoot replaces the root keys: new certificates for the new keys,
// and a root signed by a threshold of the OLD keys (clients that trust the
// current root check those) and of the NEW ones. It refuses, before
// anything is signed, when the old threshold cannot be met.
func RotateRoot(ctx context.Context, env session.Env, o RotateRootOptions) (*session.UpdateResult, error) {
	if err := checkRootExpiry(o.RootExpiry); err != nil {
		return nil, err
	}
	if len(o.NewRootKeys) == 0 {
		return nil, &session.MissingInputError{What: "new root key"}
	}
	threshold := o.Threshold
	if threshold == 0 {
		threshold = 1
	}
	if threshold > len(o.NewRootKeys) {
		return nil, fmt.Errorf("threshold %d is more than the %d new root keys", threshold, len(o.NewRootKeys))
	}
	now := env.Now()
	expires := now.Add(o.RootExpiry)
	var newKeys []crypto.Signer
	setup := func(ctx context.Context, b *session.Batch) error {
		seen := map[string]bool{}
		for _, uri := range o.NewRootKeys {
			k, pub, err := b.AddKey(ctx, uri, data.CanonicalRootRole)
			if err != nil {
				return err
			}
			if seen[pub.ID()] {
				return fmt.Errorf("new root key %s is given twice", trust.ShortID(pub.ID()))
			}
			seen[pub.ID()] = true
			newKeys = append(newKeys, k)
		}
		return nil
	}
	check := func(b *session.Batch, cur *trust.Current) error {
		return b.NeedRole(cur, data.CanonicalRootRole, true)
	}
	mutate := func(ctx context.Context, b *session.Batch, cur *trust.Current) (*session.Change, error) {
		root, err := cur.NextRoot(expires)
		if err != nil {
			return nil, err
		}
		oldKeys, _, _ := trust.RoleKeys(cur.Root, data.CanonicalRootRole)
		var certs []data.PublicKey
		for _, k := range newKeys {
			_, pub, err := b.Keys.Certify(k, cur.GUN, now.Add(-time.Minute), expires, rand.Reader)
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
		return &session.Change{Root: root, RootSigners: append(oldKeys, certs...),
			Event: map[string]any{"root_version": root.Signed.Version, "new_root_key_ids": ids, "threshold": threshold}}, nil
	}
	return session.RunUpdate(ctx, env, "rotate-root", session.Update{UpdateOptions: o.UpdateOptions, Setup: setup, Check: check, Mutate: mutate,
		RootRoles: []data.RoleName{data.CanonicalRootRole}})
}

// RotateSnapshotOptions control RotateSnapshot.
type RotateSnapshotOptions struct {
	session.UpdateOptions
	ToClient    bool   // true: client-managed with SnapshotKey; false: back to the server's key
	SnapshotKey string // the new client snapshot key (with ToClient)
}

// RotateSnapshot switches repositories between a server-managed snapshot
// key (the server signs every snapshot: docker's default) and a
// client-managed one (every later change must carry a snapshot signed by
// that key, including the delegations' publishes).
func RotateSnapshot(ctx context.Context, env session.Env, o RotateSnapshotOptions) (*session.UpdateResult, error) {
	var clientKey data.PublicKey
	setup := func(ctx context.Context, b *session.Batch) (err error) {
		if o.ToClient {
			_, clientKey, err = b.AddKey(ctx, o.SnapshotKey, data.CanonicalSnapshotRole)
		}
		return err
	}
	check := func(b *session.Batch, cur *trust.Current) error {
		server, err := b.Request.ServerKey(cur.GUN, data.CanonicalSnapshotRole)
		if err != nil {
			return err
		}
		if managed := trust.ServerManagedSnapshot(cur.Root, server); managed != o.ToClient {
			if managed {
				return fmt.Errorf("%s: the snapshot is server-managed already", cur.GUN)
			}
			return fmt.Errorf("%s: the snapshot is client-managed already; to change its key, switch to the server and back", cur.GUN)
		}
		return b.NeedRole(cur, data.CanonicalRootRole, false)
	}
	mutate := func(ctx context.Context, b *session.Batch, cur *trust.Current) (*session.Change, error) {
		root, err := cur.NextRoot(cur.Root.Signed.Expires)
		if err != nil {
			return nil, err
		}
		key := clientKey
		if !o.ToClient {
			if key, err = b.Request.ServerKey(cur.GUN, data.CanonicalSnapshotRole); err != nil {
				return nil, err
			}
		}
		trust.SetRootRole(root, data.CanonicalSnapshotRole, []data.PublicKey{key}, 1)
		rootKeys, _, _ := trust.RoleKeys(cur.Root, data.CanonicalRootRole)
		mode := "server"
		if o.ToClient {
			mode = "client"
		}
		return &session.Change{Root: root, RootSigners: rootKeys,
			Event: map[string]any{"snapshot_managed_by": mode, "snapshot_key_id": key.ID()}}, nil
	}
	return session.RunUpdate(ctx, env, "rotate-snapshot", session.Update{UpdateOptions: o.UpdateOptions, Setup: setup, Check: check, Mutate: mutate,
		RootRoles: []data.RoleName{data.CanonicalSnapshotRole}})
}
