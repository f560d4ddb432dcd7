package verify

import (
	"fmt"

	cjson "github.com/docker/go/canonical/json"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// baseUploads are the roles repos checks itself; every other role a
// bundle uploads must be a delegation role, checked here.
var baseUploads = map[string]bool{"root": true, "targets": true, "snapshot": true}

// uploadedDelegations are the delegation roles a repository of the bundle
// uploads, parents first; any other role it names is refused.
func uploadedDelegations(dir string, r bundle.SignedRepo) ([]data.RoleName, error) {
	for _, role := range r.Upload {
		if !baseUploads[role] && !data.IsDelegation(data.RoleName(role)) {
			return nil, &bundle.Error{Bundle: dir, Reason: fmt.Sprintf("%s: bundle.json uploads role %q, which keyrite does not sign", r.GUN, role)}
		}
	}
	return r.Delegations(), nil
}

// checkDelegations verifies every delegation role the bundle uploads
// against the listing its parent holds (the bundle's new parent, or the
// request's, itself checked against its own parent): signatures by listed
// keys only, the version after the request's, and each threshold
// (reported). targets is the repository's targets.json, verified already.
func checkDelegations(s *bundle.Signed, r bundle.SignedRepo, targets []byte) ([]trust.RoleReport, error) {
	roles, err := uploadedDelegations(s.Dir, r)
	if err != nil || len(roles) == 0 {
		return nil, err
	}
	t, err := trust.ParseTargets(targets, data.CanonicalTargetsRole)
	if err != nil {
		return nil, &trust.VerifyError{GUN: r.GUN, Role: "targets", Reason: err.Error()}
	}
	trusted := map[data.RoleName]*data.SignedTargets{data.CanonicalTargetsRole: t}
	// parent returns a role's trusted metadata: the bundle's if it
	// uploads it (checked before its children), else the request's,
	// which must meet its threshold as it stands.
	var parent func(role data.RoleName) (*data.SignedTargets, error)
	parent = func(role data.RoleName) (*data.SignedTargets, error) {
		if p, ok := trusted[role]; ok {
			return p, nil
		}
		raw := s.Request.Metadata(r.GUN, role)
		if raw == nil {
			return nil, &trust.VerifyError{GUN: r.GUN, Role: role.String(), Reason: "neither the bundle nor its request bundle holds it"}
		}
		pp, err := parent(role.Parent())
		if err != nil {
			return nil, err
		}
		rr, p, err := trust.VerifyDelegation(r.GUN, raw, pp, role, -1)
		if err != nil {
			return nil, err
		}
		if !rr.ThresholdMet {
			return nil, &trust.VerifyError{GUN: r.GUN, Role: role.String(), Reason: "the request bundle's copy does not meet its threshold"}
		}
		trusted[role] = p
		return p, nil
	}
	var reports []trust.RoleReport
	for _, role := range roles {
		p, err := parent(role.Parent())
		if err != nil {
			return nil, err
		}
		prev := 0
		if cur := s.Request.Metadata(r.GUN, role); cur != nil {
			prev = bundle.MetaVersion(cur)
		}
		rr, next, err := trust.VerifyDelegation(r.GUN, s.RepoMetadata(r.GUN, role.String()), p, role, prev)
		if err != nil {
			return nil, err
		}
		trusted[role] = next
		reports = append(reports, *rr)
	}
	return reports, nil
}

// delegationFiles are the delegation files a repository uploads, by role.
func delegationFiles(s *bundle.Signed, r bundle.SignedRepo) map[data.RoleName][]byte {
	out := map[data.RoleName][]byte{}
	for _, role := range r.Delegations() {
		out[role] = s.RepoMetadata(r.GUN, role.String())
	}
	return out
}

// delegationKeyIDs maps the key IDs the targets metadata of a repository
// (the bundle's and the request's) lists for delegations to canonical IDs,
// so that the seal's check can name who signed a delegation file.
func delegationKeyIDs(s *bundle.Signed, r bundle.SignedRepo) map[string]string {
	out := map[string]string{}
	raws := [][]byte{s.RepoMetadata(r.GUN, "targets"), s.Request.Metadata(r.GUN, data.CanonicalTargetsRole)}
	for role, raw := range delegationFiles(s, r) {
		raws = append(raws, raw, s.Request.Metadata(r.GUN, role))
	}
	for _, raw := range raws {
		if raw == nil {
			continue
		}
		var sd struct {
			Signed struct {
				Delegations data.Delegations `json:"delegations"`
			} `json:"signed"`
		}
		if cjson.Unmarshal(raw, &sd) != nil {
			continue
		}
		for id, k := range sd.Signed.Delegations.Keys {
			if c, err := trust.CanonicalID(k); err == nil {
				out[id] = c
			}
		}
	}
	return out
}
