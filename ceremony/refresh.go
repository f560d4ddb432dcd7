package ceremony

import (
	"context"
	"fmt"
	"time"

	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// RefreshOptions control Refresh.
type RefreshOptions struct {
	UpdateOptions
	RootExpiry    time.Duration
	Targets       bool // also re-sign targets with a new version and expiry
	TargetsExpiry time.Duration
}

// Refresh re-signs root (and targets with Targets) with a new version and
// expiry; nothing else changes.
func Refresh(ctx context.Context, env Env, o RefreshOptions) (*UpdateResult, error) {
	if err := checkRootExpiry(o.RootExpiry); err != nil {
		return nil, err
	}
	expires := o.Now.Add(o.RootExpiry)
	check := func(s *session, cur *trust.Current) error {
		if err := needRole(s, cur, data.CanonicalRootRole, false); err != nil {
			return err
		}
		if o.Targets {
			if err := needRole(s, cur, data.CanonicalTargetsRole, false); err != nil {
				return err
			}
		}
		if until := rootExpiry(cur, expires); until.Sub(o.Now) < MinRootValidity {
			return fmt.Errorf("%s: the root certificates expire on %s, inside the six-month window: a refresh cannot help; rotate root to new certificates",
				cur.GUN, until.Format("2006-01-02"))
		}
		return nil
	}
	mutate := func(ctx context.Context, s *session, cur *trust.Current) (*change, error) {
		root, err := cur.NextRoot(rootExpiry(cur, expires))
		if err != nil {
			return nil, err
		}
		rootKeys, _, _ := trust.RoleKeys(cur.Root, data.CanonicalRootRole)
		ch := &change{root: root, rootSigners: rootKeys,
			event: map[string]any{"root_version": root.Signed.Version, "root_expires": root.Signed.Expires}}
		if o.Targets {
			if ch.targets, err = cur.NextTargets(o.Now.Add(o.TargetsExpiry)); err != nil {
				return nil, err
			}
			ch.targetsSigners, _, _ = trust.RoleKeys(cur.Root, data.CanonicalTargetsRole)
			ch.event["targets_version"] = ch.targets.Signed.Version
		}
		return ch, nil
	}
	return runUpdate(ctx, env, "refresh", o.UpdateOptions, nil, check, mutate)
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

// needRole refuses a repository none of whose keys for a role is at hand
// (or, with all, fewer than the role's threshold), naming what is missing.
func needRole(s *session, cur *trust.Current, role data.RoleName, all bool) error {
	keys, threshold, err := trust.RoleKeys(cur.Root, role)
	if err != nil {
		return err
	}
	have, missing := s.canSign(keys)
	need := 1
	if all {
		need = threshold
	}
	if len(have) < need {
		return &MissingKeysError{GUN: cur.GUN, Role: role.String(), Threshold: threshold, Have: have, Missing: missing}
	}
	return nil
}

// MissingKeysError is a ceremony that cannot meet a role's threshold with
// the keys at hand; nothing was signed.
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
