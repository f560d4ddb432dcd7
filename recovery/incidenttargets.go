package recovery

import (
	"context"
	"fmt"
	"time"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/tuf/data"
)

// IncidentTargetsOptions control IncidentTargets. Keys (UpdateOptions)
// are the root keys at hand.
type IncidentTargetsOptions struct {
	session.UpdateOptions
	NewTargetsKey string    // URI of the new targets key
	Since         time.Time // list content signed since then for review; zero: all
	Show          func(*Review) error
}

// ReviewRole is one role's content offered for review: metadata signed
// (as far as its expiry tells) since the date given.
type ReviewRole struct {
	Role        string            `json:"role"`
	Version     int               `json:"version"`
	SignedAbout time.Time         `json:"signed_about"` // its expiry less notary's default lifetime for targets metadata
	Tags        []trust.TagRecord `json:"tags"`
}

// IncidentTargets is the recovery after a repository (targets) key
// leaked: root, signed by the root keys, names the new targets key (as
// Targets does); targets.json, whose delegations say which keys clients
// trust for every delegation role, is signed by the new key; a delegation
// role that listed the leaked key lists the new one instead and is
// re-signed by it; and every role signed since Since is listed for review.
// TUF metadata carries no signing time: notary sets a targets role's
// expiry three years after it signs, so that is the date estimated.
func IncidentTargets(ctx context.Context, env session.Env, o IncidentTargetsOptions) (*IncidentResult, error) {
	if o.NewTargetsKey == "" {
		return nil, &session.MissingInputError{What: "new targets key"}
	}
	expires := env.Now().Add(notary.NotaryTargetsExpiry)
	review := &Review{Command: "incident-targets", Want: "rotate targets"}
	var newPub data.PublicKey
	delegated := map[string]*trust.Delegated{}
	setup := func(ctx context.Context, b *session.Batch) (err error) {
		_, newPub, err = b.AddKey(ctx, o.NewTargetsKey, data.CanonicalTargetsRole)
		return err
	}
	check := func(b *session.Batch, cur *trust.Current) error {
		if err := b.NeedRole(cur, data.CanonicalRootRole, false); err != nil {
			return err
		}
		d, err := b.Delegated(cur)
		delegated[cur.GUN] = d
		return err
	}
	mutate := func(ctx context.Context, b *session.Batch, cur *trust.Current) (*session.Change, error) {
		d := delegated[cur.GUN]
		root, err := cur.NextRoot(cur.Root.Signed.Expires)
		if err != nil {
			return nil, err
		}
		trust.SetRootRole(root, data.CanonicalTargetsRole, []data.PublicKey{newPub}, 1)
		old, _, _ := trust.RoleKeys(cur.Root, data.CanonicalTargetsRole)
		compromised, ids, err := compromisedKeys(cur.GUN, old, newPub)
		if err != nil {
			return nil, err
		}
		next, err := cur.NextTargets(time.Time{})
		if err != nil {
			return nil, err
		}
		res, err := trust.SwapKeys(d, next, trust.KeySwap{Compromised: compromised, New: newPub, Expires: expires})
		if err != nil {
			return nil, err
		}
		ir := IncidentRepo{GUN: cur.GUN, CompromisedKeyIDs: ids, NewKeyID: newPub.ID(), SignedRoles: res.SignedRoles, Relisted: res.Relisted,
			Resigned: roleNames(res.Changes), Dropped: res.Dropped, Kept: res.Kept, Review: reviewSince(d, o.Since)}
		review.Repos = append(review.Repos, ir)
		rootKeys, _, _ := trust.RoleKeys(cur.Root, data.CanonicalRootRole)
		return &session.Change{Root: root, RootSigners: rootKeys, Targets: next, TargetsSigners: []data.PublicKey{newPub},
			Delegations: res.Changes, Event: incidentEvent(ir)}, nil
	}
	env = withConfirmation(env, review, o.Show, nil, fmt.Sprintf("rotate the targets key of %d repositories", len(o.GUNs)))
	res, err := session.RunUpdate(ctx, env, "incident-targets", session.Update{UpdateOptions: o.UpdateOptions, Setup: setup, Check: check, Mutate: mutate,
		RootRoles: []data.RoleName{data.CanonicalTargetsRole}})
	if err != nil {
		return nil, err
	}
	return &IncidentResult{UpdateResult: res, Incident: review.Repos}, nil
}

// reviewSince lists targets.json and every delegation role whose
// metadata was signed, by its expiry, at or after since, with its tags.
func reviewSince(d *trust.Delegated, since time.Time) []ReviewRole {
	roles := append([]data.RoleName{data.CanonicalTargetsRole}, d.Names()...)
	out := []ReviewRole{}
	for _, r := range roles {
		t := d.Targets
		if r != data.CanonicalTargetsRole {
			t = d.Roles[r]
		}
		about := t.Signed.Expires.Add(-notary.NotaryTargetsExpiry).UTC()
		if about.Before(since) {
			continue
		}
		rr := ReviewRole{Role: r.String(), Version: t.Signed.Version, SignedAbout: about, Tags: []trust.TagRecord{}}
		for _, tag := range trust.SortedTags(t) {
			rr.Tags = append(rr.Tags, trust.Tag(r, t, tag))
		}
		out = append(out, rr)
	}
	return out
}
