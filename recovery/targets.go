package recovery

import (
	"context"
	"time"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// TargetsOptions control Targets.
type TargetsOptions struct {
	session.UpdateOptions
	NewTargetsKey string
}

// Targets is the recovery after a lost or compromised repository
// key: root (re-signed by the root keys) names the new targets key, and
// targets.json — its targets and delegations unchanged — is signed by it.
// What delegations signed before stays valid.
func Targets(ctx context.Context, env session.Env, o TargetsOptions) (*session.UpdateResult, error) {
	var newPub data.PublicKey
	setup := func(ctx context.Context, b *session.Batch) (err error) {
		_, newPub, err = b.AddKey(ctx, o.NewTargetsKey, data.CanonicalTargetsRole)
		return err
	}
	check := func(b *session.Batch, cur *trust.Current) error {
		return b.NeedRole(cur, data.CanonicalRootRole, false)
	}
	mutate := func(ctx context.Context, b *session.Batch, cur *trust.Current) (*session.Change, error) {
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
		return &session.Change{Root: root, RootSigners: rootKeys, Targets: targets, TargetsSigners: []data.PublicKey{newPub},
			Event: map[string]any{"old_targets_key_ids": oldIDs, "new_targets_key_id": newPub.ID()}}, nil
	}
	return session.RunUpdate(ctx, env, "rotate-targets", session.Update{UpdateOptions: o.UpdateOptions, Setup: setup, Check: check, Mutate: mutate,
		RootRoles: []data.RoleName{data.CanonicalTargetsRole}})
}
