package recovery

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/tuf/data"
)

// RevokeOptions control Revoke. Keys (UpdateOptions) are the device keys
// at hand (a targets key, delegation keys on devices, a client-managed
// snapshot key); SignerKeys are docker signer keys in files. GUNs are
// filled from Tags.
type RevokeOptions struct {
	session.UpdateOptions
	Tags       map[string][]string // GUN -> tags
	SignerKeys []SignerKeyFile
	Show       func(*Review) error
}

// TagNotFoundError is a tag to revoke that no role of a repository holds.
type TagNotFoundError struct {
	GUN  string
	Tags []string
}

func (e *TagNotFoundError) Error() string {
	return fmt.Sprintf("%s: no role holds tag(s) %s", e.GUN, strings.Join(e.Tags, ", "))
}

// Revoke removes tags from targets.json and every delegation role that
// holds them, offline, as docker trust revoke does online: each changed
// role is re-signed by a threshold of its keys, with the keys at hand; a
// role whose threshold they cannot meet refuses the whole run, naming the
// keys missing, before anything is signed.
func Revoke(ctx context.Context, env session.Env, o RevokeOptions) (*IncidentResult, error) {
	if len(o.Tags) == 0 {
		return nil, &session.MissingInputError{What: "GUN:TAG"}
	}
	expires := env.Now().Add(notary.NotaryTargetsExpiry)
	review := &Review{Command: "revoke", Want: "revoke"}
	delegated := map[string]*trust.Delegated{}
	setup := func(ctx context.Context, b *session.Batch) error {
		for _, f := range o.SignerKeys {
			signer, err := f.Open()
			if err != nil {
				return err
			}
			if _, err := b.AddSigner(session.FileKey{Signer: signer, Path: f.Path}); err != nil {
				return err
			}
		}
		return nil
	}
	check := func(b *session.Batch, cur *trust.Current) error {
		d, err := b.Delegated(cur)
		if err != nil {
			return err
		}
		delegated[cur.GUN] = d
		return nil
	}
	mutate := func(ctx context.Context, b *session.Batch, cur *trust.Current) (*session.Change, error) {
		d := delegated[cur.GUN]
		next, err := cur.NextTargets(time.Time{})
		if err != nil {
			return nil, err
		}
		roles, err := d.Clone()
		if err != nil {
			return nil, err
		}
		changed, removed, absent := trust.RemoveTags(d, next, roles, o.Tags[cur.GUN])
		if len(absent) > 0 {
			return nil, &TagNotFoundError{GUN: cur.GUN, Tags: absent}
		}
		ch := &session.Change{Delegations: trust.NextDelegations(next, roles, changed, expires)}
		if changed[data.CanonicalTargetsRole] {
			keys, threshold, _ := trust.RoleKeys(cur.Root, data.CanonicalTargetsRole)
			if have, missing := b.CanSign(keys); len(have) < threshold {
				return nil, &session.MissingKeysError{GUN: cur.GUN, Role: data.CanonicalTargetsRole.String(), Threshold: threshold, Have: have, Missing: missing}
			}
			ch.Targets, ch.TargetsSigners = next, keys
		}
		ir := IncidentRepo{GUN: cur.GUN, Resigned: roleNames(ch.Delegations), Dropped: removed, Kept: []trust.TagRecord{}, CompromisedKeyIDs: []string{}}
		if ch.Targets != nil {
			ir.Resigned = append([]string{"targets"}, ir.Resigned...)
		}
		review.Repos = append(review.Repos, ir)
		ch.Event = map[string]any{"tags_revoked": removed, "resigned_roles": ir.Resigned}
		return ch, nil
	}
	env = withConfirmation(env, review, o.Show, nil, fmt.Sprintf("revoke tags in %d repositories", len(o.GUNs)))
	res, err := session.RunUpdate(ctx, env, "revoke", session.Update{UpdateOptions: o.UpdateOptions, Setup: setup, Check: check, Mutate: mutate})
	if err != nil {
		return nil, err
	}
	return &IncidentResult{UpdateResult: res, Incident: review.Repos}, nil
}
