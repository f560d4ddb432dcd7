package trust

import (
	"fmt"
	"sort"

	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// Delegated is a repository's targets and delegation roles as the request
// bundle carries them, each checked as notary's client checks it.
type Delegated struct {
	GUN     string
	Targets *data.SignedTargets
	// Roles are the delegation roles with metadata, by name; Raw their
	// bytes as fetched.
	Roles map[data.RoleName]*data.SignedTargets
	Raw   map[data.RoleName][]byte
}

// Names are the delegation roles with metadata, parents before children.
func (d *Delegated) Names() []data.RoleName {
	var list utils.RoleList
	for r := range d.Roles {
		list = append(list, r.String())
	}
	sort.Sort(list)
	out := make([]data.RoleName, len(list))
	for i, r := range list {
		out[i] = data.RoleName(r)
	}
	return out
}

// MissingDelegationError is a request bundle without a delegation role
// the server's snapshot lists: whatever it holds cannot be reviewed or
// re-signed.
type MissingDelegationError struct {
	GUN  string
	Role data.RoleName
}

func (e *MissingDelegationError) Error() string {
	return fmt.Sprintf("%s: the request bundle does not carry %s, which the server's snapshot lists (a request bundle from a keyrite that does not fetch delegation roles, or one with files taken out)", e.GUN, e.Role)
}

// LoadDelegated checks a repository's delegation roles offline exactly as
// notary's client does, with its own tuf.RepoBuilder: root (trusted
// already by the caller), the snapshot signed by the root's snapshot key,
// targets and every delegation role matching the snapshot's hashes, and
// each delegation signed by a threshold of the keys its parent lists for
// it. The online machine can hand over any file: a delegation role changed
// (even re-signed with a key the role lists) no longer matches the
// snapshot the server signed, and a role the snapshot lists but the
// request leaves out is a *MissingDelegationError. Expiry is not checked.
func LoadDelegated(gun string, root, snapshot, targets []byte, delegations map[data.RoleName][]byte) (*Delegated, error) {
	fail := func(role data.RoleName, format string, a ...any) error {
		return &VerifyError{GUN: gun, Role: role.String(), Reason: "current metadata from the request bundle: " + fmt.Sprintf(format, a...)}
	}
	if snapshot == nil {
		return nil, fail(data.CanonicalSnapshotRole, "missing: the snapshot is what says which delegation roles exist and what they hold")
	}
	b := tuf.NewRepoBuilder(data.GUN(gun), nil, trustpinning.TrustPinConfig{})
	for _, step := range []struct {
		role data.RoleName
		raw  []byte
	}{{data.CanonicalRootRole, root}, {data.CanonicalSnapshotRole, snapshot}, {data.CanonicalTargetsRole, targets}} {
		if err := b.Load(step.role, step.raw, 1, true); err != nil {
			return nil, fail(step.role, "%v", err)
		}
	}
	d := &Delegated{GUN: gun, Roles: map[data.RoleName]*data.SignedTargets{}, Raw: map[data.RoleName][]byte{}}
	var list utils.RoleList
	for r := range delegations {
		if !data.IsDelegation(r) {
			return nil, fail(r, "not a delegation role")
		}
		list = append(list, r.String())
	}
	sort.Sort(list) // parents first: a role is checked against its parent's listing
	for _, name := range list {
		r := data.RoleName(name)
		if err := b.Load(r, delegations[r], 1, true); err != nil {
			return nil, fail(r, "%v (not what the server's snapshot lists, or not signed by a threshold of the keys its parent lists)", err)
		}
		d.Raw[r] = delegations[r]
	}
	repo, _, err := b.Finish()
	if err != nil {
		return nil, fail(data.CanonicalTargetsRole, "%v", err)
	}
	for name := range repo.Snapshot.Signed.Meta {
		r := data.RoleName(name)
		if data.IsDelegation(r) && delegations[r] == nil {
			return nil, &MissingDelegationError{GUN: gun, Role: r}
		}
	}
	d.Targets = repo.Targets[data.CanonicalTargetsRole]
	for r := range d.Raw {
		d.Roles[r] = repo.Targets[r]
	}
	return d, nil
}

// Listing is how a parent lists a delegation role: its keys and threshold.
type Listing struct {
	Role      *data.Role
	Keys      map[string]data.PublicKey // by the key ID the parent uses
	Parent    data.RoleName
	Threshold int
}

// Listings are every delegation role a repository's targets and
// delegation metadata list, by name (parents may list roles with no
// metadata yet).
func Listings(targets *data.SignedTargets, roles map[data.RoleName]*data.SignedTargets) map[data.RoleName]*Listing {
	out := map[data.RoleName]*Listing{}
	add := func(parent data.RoleName, t *data.SignedTargets) {
		for _, r := range t.Signed.Delegations.Roles {
			l := &Listing{Role: r, Parent: parent, Threshold: r.Threshold, Keys: map[string]data.PublicKey{}}
			for _, id := range r.KeyIDs {
				if k, ok := t.Signed.Delegations.Keys[id]; ok {
					l.Keys[id] = k
				}
			}
			out[r.Name] = l
		}
	}
	add(data.CanonicalTargetsRole, targets)
	for name, t := range roles {
		add(name, t)
	}
	return out
}

// KeyList is a listing's keys in a stable order.
func (l *Listing) KeyList() []data.PublicKey {
	ids := make([]string, 0, len(l.Keys))
	for id := range l.Keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]data.PublicKey, len(ids))
	for i, id := range ids {
		out[i] = l.Keys[id]
	}
	return out
}

// Clone deep-copies the delegation roles, to be edited into their next
// versions.
func (d *Delegated) Clone() (map[data.RoleName]*data.SignedTargets, error) {
	out := map[data.RoleName]*data.SignedTargets{}
	for r, t := range d.Roles {
		c, err := cloneTargets(t)
		if err != nil {
			return nil, err
		}
		out[r] = c
	}
	return out, nil
}
