package trust

import (
	"fmt"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// ParseTargets reads targets or delegation metadata already verified
// elsewhere (to read what its parent lists).
func ParseTargets(raw []byte, role data.RoleName) (*data.SignedTargets, error) {
	s, err := parseSigned(raw)
	if err != nil {
		return nil, err
	}
	return data.TargetsFromSigned(s, role)
}

// VerifyDelegation checks a delegation role's metadata against the
// listing its (verified) parent holds for it: canonical JSON, every
// signature valid and by a key the parent lists, and, when prevVersion is
// not negative, the version after it. A threshold not yet met is
// reported, not an error.
func VerifyDelegation(gun string, raw []byte, parent *data.SignedTargets, role data.RoleName, prevVersion int) (*RoleReport, *data.SignedTargets, error) {
	fail := func(format string, a ...any) error {
		return &VerifyError{GUN: gun, Role: role.String(), Reason: fmt.Sprintf(format, a...)}
	}
	s, err := parseSigned(raw)
	if err != nil {
		return nil, nil, fail("%v", err)
	}
	t, err := data.TargetsFromSigned(s, role)
	if err != nil {
		return nil, nil, fail("invalid delegation metadata: %v", err)
	}
	i := utils.FindRoleIndex(parent.Signed.Delegations.Roles, role)
	if i < 0 {
		return nil, nil, fail("%s does not list this role", role.Parent())
	}
	listed := parent.Signed.Delegations.Roles[i]
	br := data.BaseRole{Name: role, Threshold: listed.Threshold, Keys: map[string]data.PublicKey{}}
	for _, id := range listed.KeyIDs {
		if k, ok := parent.Signed.Delegations.Keys[id]; ok {
			br.Keys[id] = k
		}
	}
	if prevVersion >= 0 && t.Signed.Version != prevVersion+1 {
		return nil, nil, fail("version %d does not follow the current version %d", t.Signed.Version, prevVersion)
	}
	foreign, err := ForeignSignatures(nil, raw, br)
	if err != nil {
		return nil, nil, fail("%v", err)
	}
	if len(foreign) > 0 {
		return nil, nil, fail("altered: signed by key(s) %s that %s does not list for it", ListIDs(foreign, true), role.Parent())
	}
	rr, bad := signers(s, br, role.String(), t.Signed.Version, t.Signed.Expires)
	if bad != "" {
		return nil, nil, fail("the signature by key %s does not verify", ShortID(bad))
	}
	return &rr, t, nil
}
