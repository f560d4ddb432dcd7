package recovery

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/tuf/data"
)

// IncidentSignerOptions control IncidentSigner. Keys (UpdateOptions) are
// the targets keys at hand (and a client-managed snapshot key).
type IncidentSignerOptions struct {
	session.UpdateOptions
	Signer string // the docker signer whose key leaked (targets/NAME)
	// The key that takes the compromised key's place and re-signs the
	// delegation roles: a device key (RecoveryKey, a URI) or a docker
	// signer key file (NewSignerKey). Exactly one.
	RecoveryKey  string
	NewSignerKey *SignerKeyFile
	Keep         []string // tags the compromised key signed that stay, after review
	// Show is given the review before the typed confirmation; nil: not shown.
	Show func(*Review) error
}

// SignerNotFoundError is a signer name a repository has no role for.
type SignerNotFoundError struct{ GUN, Signer string }

func (e *SignerNotFoundError) Error() string {
	return fmt.Sprintf("%s has no signer %q (no role targets/%s in targets.json)", e.GUN, e.Signer, e.Signer)
}

// KeepError is a --keep tag that none of the compromised key's tags is:
// a typo would otherwise drop the tag meant.
type KeepError struct{ Tags []string }

func (e *KeepError) Error() string {
	return fmt.Sprintf("kept tag(s) %s: not among the tags the compromised key signed", strings.Join(e.Tags, ", "))
}

// IncidentSigner is the recovery after a docker signer's key leaked: in
// every repository, the key is taken out of every delegation role and the
// new key put in its place (targets.json, signed by the targets key);
// every role the leaked key signed loses its tags but those kept after
// review and is re-signed by the new key, so that clients stop trusting
// what the attacker may have signed and keep trusting the rest.
func IncidentSigner(ctx context.Context, env session.Env, o IncidentSignerOptions) (*IncidentResult, error) {
	role, err := trust.SignerRole(o.Signer)
	if err != nil {
		return nil, err
	}
	if (o.RecoveryKey == "") == (o.NewSignerKey == nil) {
		return nil, &session.MissingInputError{What: "new signer key (a recovery key URI or a signer key file, one of them)"}
	}
	expires := env.Now().Add(notary.NotaryTargetsExpiry)
	review := &Review{Command: "incident-signer", Want: "incident " + o.Signer}
	var newPub data.PublicKey
	delegated := map[string]*trust.Delegated{}
	setup := func(ctx context.Context, b *session.Batch) (err error) {
		if o.RecoveryKey != "" {
			_, newPub, err = b.AddKey(ctx, o.RecoveryKey, "")
			return err
		}
		signer, err := o.NewSignerKey.Open()
		if err != nil {
			return err
		}
		newPub, err = b.AddSigner(session.FileKey{Signer: signer, Path: o.NewSignerKey.Path})
		return err
	}
	check := func(b *session.Batch, cur *trust.Current) error {
		if err := b.NeedRole(cur, data.CanonicalTargetsRole, false); err != nil {
			return err
		}
		d, err := b.Delegated(cur)
		if err != nil {
			return err
		}
		if _, ok := trust.Listings(d.Targets, d.Roles)[role]; !ok {
			return &SignerNotFoundError{GUN: cur.GUN, Signer: o.Signer}
		}
		delegated[cur.GUN] = d
		return nil
	}
	mutate := func(ctx context.Context, b *session.Batch, cur *trust.Current) (*session.Change, error) {
		d := delegated[cur.GUN]
		compromised, ids, err := compromisedKeys(cur.GUN, trust.Listings(d.Targets, d.Roles)[role].KeyList(), newPub)
		if err != nil {
			return nil, err
		}
		next, err := cur.NextTargets(time.Time{})
		if err != nil {
			return nil, err
		}
		keep := func(tag string) bool { return slices.Contains(o.Keep, tag) }
		res, err := trust.SwapKeys(d, next, trust.KeySwap{Compromised: compromised, New: newPub, Keep: keep, Expires: expires})
		if err != nil {
			return nil, err
		}
		ir := IncidentRepo{GUN: cur.GUN, Signer: o.Signer, CompromisedKeyIDs: ids, NewKeyID: newPub.ID(), SignedRoles: res.SignedRoles,
			Relisted: res.Relisted, Resigned: roleNames(res.Changes), Dropped: res.Dropped, Kept: res.Kept, Writable: res.Writable}
		review.Repos = append(review.Repos, ir)
		signers, _, _ := trust.RoleKeys(cur.Root, data.CanonicalTargetsRole)
		return &session.Change{Targets: next, TargetsSigners: signers, Delegations: res.Changes, Event: incidentEvent(ir)}, nil
	}
	checkKeep := func() error {
		var unknown []string
		for _, k := range o.Keep {
			found := false
			for _, r := range review.Repos {
				found = found || slices.Contains(tagNames(r.Kept), k)
			}
			if !found {
				unknown = append(unknown, k)
			}
		}
		sort.Strings(unknown)
		if len(unknown) > 0 {
			return &KeepError{Tags: unknown}
		}
		return nil
	}
	env = withConfirmation(env, review, o.Show, checkKeep, fmt.Sprintf("replace signer %s's key in %d repositories and re-sign their delegations", o.Signer, len(o.GUNs)))
	res, err := session.RunUpdate(ctx, env, "incident-signer", session.Update{UpdateOptions: o.UpdateOptions, Setup: setup, Check: check, Mutate: mutate})
	if err != nil {
		return nil, err
	}
	return &IncidentResult{UpdateResult: res, Incident: review.Repos}, nil
}

// compromisedKeys are the canonical IDs of keys, as a set and a list; the
// new key must not be one of them.
func compromisedKeys(gun string, keys []data.PublicKey, newKey data.PublicKey) (map[string]bool, []string, error) {
	set := map[string]bool{}
	var ids []string
	for _, k := range keys {
		c, err := trust.CanonicalID(k)
		if err != nil {
			return nil, nil, err
		}
		set[c] = true
		ids = append(ids, c)
	}
	if c, _ := trust.CanonicalID(newKey); set[c] {
		return nil, nil, fmt.Errorf("%s: the new key %s is the compromised key", gun, trust.ShortID(c))
	}
	return set, ids, nil
}

// incidentEvent is what the transcript records of one repository's
// incident, beyond the hashes of the files.
func incidentEvent(ir IncidentRepo) map[string]any {
	ev := map[string]any{"compromised_key_ids": ir.CompromisedKeyIDs, "new_key_id": ir.NewKeyID,
		"signed_roles": ir.SignedRoles, "relisted_roles": ir.Relisted, "tags_dropped": ir.Dropped, "tags_kept": ir.Kept, "tags_to_review": ir.Writable}
	if ir.Signer != "" {
		ev["signer"] = ir.Signer
	}
	if ir.Review != nil {
		ev["review"] = ir.Review
	}
	return ev
}
