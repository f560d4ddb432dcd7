package trust

import (
	"github.com/theupdateframework/notary/tuf/data"
)

// RemoveTags takes each tag out of every role that holds it, as docker
// trust revoke does: next is targets.json's next version and roles the
// delegation roles' (both edited in place). It returns the roles changed,
// the tags removed with where they were, and the tags no role held.
func RemoveTags(d *Delegated, next *data.SignedTargets, roles map[data.RoleName]*data.SignedTargets, tags []string) (changed map[data.RoleName]bool, removed []TagRecord, absent []string) {
	changed = map[data.RoleName]bool{}
	all := map[data.RoleName]*data.SignedTargets{data.CanonicalTargetsRole: next}
	cur := map[data.RoleName]*data.SignedTargets{data.CanonicalTargetsRole: d.Targets}
	for r, t := range roles {
		all[r], cur[r] = t, d.Roles[r]
	}
	order := append([]data.RoleName{data.CanonicalTargetsRole}, d.Names()...)
	for _, tag := range tags {
		found := false
		for _, r := range order {
			if _, ok := all[r].Signed.Targets[tag]; !ok {
				continue
			}
			removed = append(removed, Tag(r, cur[r], tag))
			delete(all[r].Signed.Targets, tag)
			changed[r], found = true, true
		}
		if !found {
			absent = append(absent, tag)
		}
	}
	return changed, removed, absent
}
