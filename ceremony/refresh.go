package ceremony

import (
	"context"
	"fmt"
	"time"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// RefreshOptions control Refresh.
type RefreshOptions struct {
	session.UpdateOptions
	RootExpiry    time.Duration
	Targets       bool // also re-sign targets with a new version and expiry
	TargetsExpiry time.Duration
}

// Refresh re-signs root (and targets with Targets) with a new version and
// expiry; nothing else changes.
func Refresh(ctx context.Context, env session.Env, o RefreshOptions) (*session.UpdateResult, error) {
	if err := checkRootExpiry(o.RootExpiry); err != nil {
		return nil, err
	}
	now := env.Now()
	expires := now.Add(o.RootExpiry)
	check := func(b *session.Batch, cur *trust.Current) error {
		if err := b.NeedRole(cur, data.CanonicalRootRole, false); err != nil {
			return err
		}
		if o.Targets {
			if err := b.NeedRole(cur, data.CanonicalTargetsRole, false); err != nil {
				return err
			}
		}
		if until := rootExpiry(cur, expires); until.Sub(now) < MinRootValidity {
			return fmt.Errorf("%s: the root certificates expire on %s, inside the six-month window: a refresh cannot help; rotate root to new certificates",
				cur.GUN, until.Format("2006-01-02"))
		}
		return nil
	}
	mutate := func(ctx context.Context, b *session.Batch, cur *trust.Current) (*session.Change, error) {
		root, err := cur.NextRoot(rootExpiry(cur, expires))
		if err != nil {
			return nil, err
		}
		rootKeys, _, _ := trust.RoleKeys(cur.Root, data.CanonicalRootRole)
		ch := &session.Change{Root: root, RootSigners: rootKeys,
			Event: map[string]any{"root_version": root.Signed.Version, "root_expires": root.Signed.Expires}}
		if o.Targets {
			if ch.Targets, err = cur.NextTargets(now.Add(o.TargetsExpiry)); err != nil {
				return nil, err
			}
			ch.TargetsSigners, _, _ = trust.RoleKeys(cur.Root, data.CanonicalTargetsRole)
			ch.Event["targets_version"] = ch.Targets.Signed.Version
		}
		return ch, nil
	}
	return session.RunUpdate(ctx, env, "refresh", session.Update{UpdateOptions: o.UpdateOptions, Check: check, Mutate: mutate})
}

// rootExpiry is the wanted expiry, but never after the root certificates,
// which a refresh keeps: clients reject a root whose certificates expired,
// whatever root.json says.
func rootExpiry(cur *trust.Current, want time.Time) time.Time {
	keys, _, _ := trust.RoleKeys(cur.Root, data.CanonicalRootRole)
	for _, k := range keys {
		if cert, err := utils.LoadCertFromPEM(k.Public()); err == nil && cert.NotAfter.Before(want) {
			want = cert.NotAfter
		}
	}
	return want
}

// checkRootExpiry refuses a root expiry inside the six months in which
// notary clients start re-signing root themselves.
func checkRootExpiry(d time.Duration) error {
	if d < MinRootValidity {
		return fmt.Errorf("root expiry %s is inside the six months in which notary clients try to re-sign root themselves; use at least %dd", d, int(MinRootValidity.Hours()/24))
	}
	return nil
}
