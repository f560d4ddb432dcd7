package verify

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// checkForeignSignatures refuses metadata the bundle signs that carries a
// signature by a key none of its roles names.
func checkForeignSignatures(d *trust.Decoded, s *bundle.Signed, r bundle.SignedRepo, root, prevRoot []byte) error {
	roleOf := func(prev bool, role data.RoleName) (data.BaseRole, error) {
		raw := root
		if prev {
			raw = prevRoot
		}
		_, sr, err := d.Root(raw)
		if err != nil {
			return data.BaseRole{}, err
		}
		return sr.BuildBaseRole(role)
	}
	check := func(file string, raw []byte, roles ...data.BaseRole) error {
		foreign, err := trust.ForeignSignatures(d, raw, roles...)
		if err != nil {
			return err
		}
		if len(foreign) > 0 {
			return &trust.VerifyError{GUN: r.GUN, Role: strings.TrimSuffix(file, ".json"),
				Reason: fmt.Sprintf("altered: signed by key(s) %s that %s cannot name", trust.ListIDs(foreign, true), file)}
		}
		return nil
	}
	for _, f := range []struct {
		file string
		role data.RoleName
	}{{"root.json", data.CanonicalRootRole}, {"targets.json", data.CanonicalTargetsRole}, {"snapshot.json", data.CanonicalSnapshotRole}} {
		raw := s.RepoMetadata(r.GUN, strings.TrimSuffix(f.file, ".json"))
		if raw == nil {
			continue
		}
		role, err := roleOf(false, f.role)
		if err != nil {
			return err
		}
		roles := []data.BaseRole{role}
		if f.role == data.CanonicalRootRole && prevRoot != nil && s.RepoMetadata(r.GUN, "root") != nil {
			prev, err := roleOf(true, data.CanonicalRootRole)
			if err != nil {
				return err
			}
			roles = append(roles, prev)
		}
		if err := check(f.file, raw, roles...); err != nil {
			return err
		}
	}
	return nil
}

// checkRequestRecorded binds the carried request bundle to the transcript:
// the ceremony that made the bundle recorded the SHA-256 of the request
// manifest it started from, so a request swapped afterwards, manifests and
// all, is an alteration.
func checkRequestRecorded(s *bundle.Signed, entries []bundle.TranscriptEntry) error {
	for _, e := range entries {
		if e.Event != "ceremony.start" {
			continue
		}
		var ev struct {
			Request string `json:"request_manifest_sha256"`
		}
		if json.Unmarshal(e.Data, &ev) != nil || ev.Request == "" {
			continue
		}
		if ev.Request != bundle.SHA256Hex(s.Request.Manifest) {
			return &bundle.Error{Bundle: s.Dir, Reason: fmt.Sprintf("altered: the request bundle it carries is not the one transcript line %d records", e.Seq)}
		}
		return nil
	}
	return nil
}

// checkListedOnce refuses a bundle.json that lists a GUN twice: publish
// would upload it twice and verify would count it twice. (Files it does
// not account for, and roles it uploads without a file, are refused as
// the bundle is read.)
func checkListedOnce(s *bundle.Signed) error {
	listed := map[string]bool{}
	for _, r := range s.Info.Repos {
		if listed[r.GUN] {
			return &bundle.Error{Bundle: s.Dir, Reason: fmt.Sprintf("altered: bundle.json lists %s twice", r.GUN)}
		}
		listed[r.GUN] = true
	}
	return nil
}
