package session

import (
	"sort"
	"strconv"
	"time"

	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// Preview is what an operation is about to sign, per repository, shown
// through Env.Preview after every repository is checked and before
// anything is signed (or, for init, before the first key is created).
type Preview struct {
	Command string        `json:"command"`
	Repos   []RepoPreview `json:"repos"`
}

// RepoPreview is one repository's change. Key IDs are canonical (the
// public key's ID, as key generate and key list print it), so that the
// same key has the same ID in every repository.
type RepoPreview struct {
	GUN string `json:"gun"`
	New bool   `json:"new"` // a repository init creates
	// Root: versions and expiries from -> to (zero "from" for a new
	// repository); unchanged when Root is false.
	Root               bool         `json:"root"`
	RootVersion        [2]int       `json:"root_version"`
	RootExpires        [2]time.Time `json:"root_expires"`
	RootThreshold      [2]int       `json:"root_threshold"`
	RootKeysAdded      []string     `json:"root_keys_added"`
	RootKeysRemoved    []string     `json:"root_keys_removed"`
	RootKeysKept       []string     `json:"root_keys_kept"`
	TargetsKeysAdded   []string     `json:"targets_keys_added,omitempty"`
	TargetsKeysRemoved []string     `json:"targets_keys_removed,omitempty"`
	// NewTargetsKey says where init makes a new targets key ("" when a
	// shared key is named).
	NewTargetsKey string      `json:"new_targets_key,omitempty"`
	SnapshotKeys  [2][]string `json:"snapshot_keys,omitempty"`
	// Targets: versions and expiries from -> to; unchanged when Targets
	// is false.
	Targets            bool         `json:"targets"`
	TargetsVersion     [2]int       `json:"targets_version"`
	TargetsExpires     [2]time.Time `json:"targets_expires"`
	DelegationsAdded   []string     `json:"delegations_added,omitempty"`
	DelegationsRemoved []string     `json:"delegations_removed,omitempty"`
	DelegationsChanged []string     `json:"delegations_changed,omitempty"`
}

// DiffRepo describes the change from one repository's metadata to the
// next: a nil old root is a new repository, a nil new root or targets is
// unchanged.
func DiffRepo(gun string, oldRoot, newRoot *data.SignedRoot, oldTargets, newTargets *data.SignedTargets) (RepoPreview, error) {
	p := RepoPreview{GUN: gun, New: oldRoot == nil}
	if newRoot != nil {
		p.Root = true
		p.RootVersion[1], p.RootExpires[1] = newRoot.Signed.Version, newRoot.Signed.Expires
		newIDs, t, err := roleIDs(newRoot, data.CanonicalRootRole)
		if err != nil {
			return p, err
		}
		p.RootThreshold[1] = t
		var oldIDs []string
		if oldRoot != nil {
			p.RootVersion[0], p.RootExpires[0] = oldRoot.Signed.Version, oldRoot.Signed.Expires
			if oldIDs, p.RootThreshold[0], err = roleIDs(oldRoot, data.CanonicalRootRole); err != nil {
				return p, err
			}
		}
		p.RootKeysAdded, p.RootKeysRemoved, p.RootKeysKept = diffIDs(oldIDs, newIDs)
		var oldT, newT []string
		if oldRoot != nil {
			oldT, _, _ = roleIDs(oldRoot, data.CanonicalTargetsRole)
		}
		newT, _, _ = roleIDs(newRoot, data.CanonicalTargetsRole)
		p.TargetsKeysAdded, p.TargetsKeysRemoved, _ = diffIDs(oldT, newT)
		if oldRoot != nil {
			oldS, _, _ := roleIDs(oldRoot, data.CanonicalSnapshotRole)
			newS, _, _ := roleIDs(newRoot, data.CanonicalSnapshotRole)
			if a, r, _ := diffIDs(oldS, newS); len(a)+len(r) > 0 {
				p.SnapshotKeys = [2][]string{oldS, newS}
			}
		}
	}
	if newTargets != nil {
		p.Targets = true
		p.TargetsVersion[1], p.TargetsExpires[1] = newTargets.Signed.Version, newTargets.Signed.Expires
		var old map[string]string
		if oldTargets != nil {
			p.TargetsVersion[0], p.TargetsExpires[0] = oldTargets.Signed.Version, oldTargets.Signed.Expires
			old = delegations(oldTargets)
		}
		cur := delegations(newTargets)
		for name, d := range cur {
			o, ok := old[name]
			switch {
			case !ok:
				p.DelegationsAdded = append(p.DelegationsAdded, name+" "+d)
			case o != d:
				p.DelegationsChanged = append(p.DelegationsChanged, name+" "+o+" -> "+d)
			}
		}
		for name, o := range old {
			if _, ok := cur[name]; !ok {
				p.DelegationsRemoved = append(p.DelegationsRemoved, name+" "+o)
			}
		}
		sort.Strings(p.DelegationsAdded)
		sort.Strings(p.DelegationsRemoved)
		sort.Strings(p.DelegationsChanged)
	}
	return p, nil
}

// roleIDs are the canonical IDs of a base role's keys, sorted, and its
// threshold.
func roleIDs(r *data.SignedRoot, role data.RoleName) ([]string, int, error) {
	keys, t, err := trust.RoleKeys(r, role)
	if err != nil {
		return nil, 0, err
	}
	var ids []string
	for _, k := range keys {
		id, err := trust.CanonicalID(k)
		if err != nil {
			return nil, 0, err
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, t, nil
}

func diffIDs(old, cur []string) (added, removed, kept []string) {
	in := map[string]bool{}
	for _, id := range old {
		in[id] = true
	}
	now := map[string]bool{}
	for _, id := range cur {
		now[id] = true
		if in[id] {
			kept = append(kept, id)
		} else {
			added = append(added, id)
		}
	}
	for _, id := range old {
		if !now[id] {
			removed = append(removed, id)
		}
	}
	return added, removed, kept
}

// delegations describes each delegated role: its key IDs and threshold.
func delegations(t *data.SignedTargets) map[string]string {
	out := map[string]string{}
	for _, r := range t.Signed.Delegations.Roles {
		ids := append([]string{}, r.KeyIDs...)
		sort.Strings(ids)
		d := "keys"
		for _, id := range ids {
			d += " " + trust.ShortID(id)
		}
		out[r.Name.String()] = d + " threshold " + strconv.Itoa(r.Threshold)
	}
	return out
}

// preview builds and shows an update's changes, after every repository
// was checked and before anything is signed.
func (b *Batch) preview(currents []*trust.Current, changes []*Change) error {
	if b.Env.Preview == nil {
		return nil
	}
	p := &Preview{Command: b.Command()}
	for i, ch := range changes {
		cur := currents[i]
		r, err := DiffRepo(cur.GUN, cur.Root, ch.Root, cur.Targets, ch.Targets)
		if err != nil {
			return err
		}
		p.Repos = append(p.Repos, r)
	}
	return b.Env.Preview(p)
}
