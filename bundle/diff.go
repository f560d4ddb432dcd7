package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// Change is one difference between what a server serves and what a signed
// bundle would upload.
type Change struct {
	Role    string   `json:"role"`  // root, targets, snapshot, or a delegation
	Field   string   `json:"field"` // version, expires, keys, threshold, delegation, paths
	From    string   `json:"from,omitempty"`
	To      string   `json:"to,omitempty"`
	Added   []string `json:"added,omitempty"`   // keys or delegations
	Removed []string `json:"removed,omitempty"` // keys or delegations
}

// RepoDiff is what uploading a GUN of a signed bundle changes.
type RepoDiff struct {
	GUN     string   `json:"gun"`
	New     bool     `json:"new"` // the server has no repository yet
	Same    bool     `json:"already_published"`
	Changes []Change `json:"changes"`
}

// Diff compares what the server serves now with what uploading each GUN
// of a signed bundle would make it serve: versions, expiries, the keys and
// thresholds of root, targets, snapshot and timestamp, delegations with
// their keys, thresholds and paths. It changes nothing on the server.
func Diff(ctx context.Context, srv Server, s *Signed) ([]RepoDiff, error) {
	c, err := srv.client(AccessPull)
	if err != nil {
		return nil, err
	}
	return diff(ctx, c, s)
}

// PublishPreview is publish --dry-run: the checks publish makes before
// uploading (the server the bundle was made for, a request bundle the
// server has not moved past), then the diff, and nothing uploaded.
func PublishPreview(ctx context.Context, srv Server, s *Signed) ([]RepoDiff, error) {
	c, err := srv.client(AccessPushPull)
	if err != nil {
		return nil, err
	}
	if c.base != s.Info.Server {
		return nil, fmt.Errorf("this bundle was prepared for %s (its request bundle was fetched there), not %s: publish it to the server it was made for, or fetch and sign again", s.Info.Server, c.base)
	}
	for _, r := range s.Info.Repos {
		if _, err := preflight(ctx, c, s, r); err != nil {
			return nil, err
		}
	}
	return diff(ctx, c, s)
}

func diff(ctx context.Context, c *client, s *Signed) ([]RepoDiff, error) {
	var out []RepoDiff
	for _, r := range s.Info.Repos {
		d := RepoDiff{GUN: r.GUN, Changes: []Change{}}
		server := map[string][]byte{}
		var delegations []string
		for _, role := range r.Delegations() {
			delegations = append(delegations, role.String())
		}
		for _, role := range append([]string{"root", "targets", "snapshot"}, delegations...) {
			b, err := c.get(ctx, tufPath(r.GUN, role+".json"))
			switch {
			case errors.Is(err, errNotFound):
			case err != nil:
				return nil, fmt.Errorf("%s: %w", r.GUN, err)
			default:
				server[role] = b
			}
		}
		d.New = server["root"] == nil
		after := func(role string) []byte {
			if b := s.RepoMetadata(r.GUN, role); b != nil {
				return b
			}
			return server[role]
		}
		d.Same = true
		for _, role := range r.Upload {
			d.Same = d.Same && string(server[role]) == string(s.RepoMetadata(r.GUN, role))
		}
		ch, err := diffRoot(server["root"], after("root"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.GUN, err)
		}
		d.Changes = append(d.Changes, ch...)
		if ch, err = diffTargets(server["targets"], after("targets")); err != nil {
			return nil, fmt.Errorf("%s: %w", r.GUN, err)
		}
		d.Changes = append(d.Changes, ch...)
		for _, role := range delegations {
			if ch, err = diffDelegation(role, server[role], after(role)); err != nil {
				return nil, fmt.Errorf("%s: %w", r.GUN, err)
			}
			d.Changes = append(d.Changes, ch...)
		}
		if slices.Contains(r.Upload, "snapshot") {
			if ch, err = diffCommon("snapshot", server["snapshot"], after("snapshot")); err != nil {
				return nil, fmt.Errorf("%s: %w", r.GUN, err)
			}
			d.Changes = append(d.Changes, ch...)
		}
		out = append(out, d)
	}
	return out, nil
}

type common struct {
	Signed struct {
		Version int       `json:"version"`
		Expires time.Time `json:"expires"`
	} `json:"signed"`
}

// diffCommon compares version and expiry; nil before means "none".
func diffCommon(role string, before, after []byte) ([]Change, error) {
	var b, a common
	if before != nil {
		if err := json.Unmarshal(before, &b); err != nil {
			return nil, fmt.Errorf("the server's %s.json: %w", role, err)
		}
	}
	if after != nil {
		if err := json.Unmarshal(after, &a); err != nil {
			return nil, fmt.Errorf("%s.json: %w", role, err)
		}
	}
	var out []Change
	if before == nil || b.Signed.Version != a.Signed.Version {
		out = append(out, Change{Role: role, Field: "version", From: versionText(before, b.Signed.Version), To: versionText(after, a.Signed.Version)})
	}
	if before == nil || !b.Signed.Expires.Equal(a.Signed.Expires) {
		out = append(out, Change{Role: role, Field: "expires", From: dateText(before, b.Signed.Expires), To: dateText(after, a.Signed.Expires)})
	}
	return out, nil
}

func versionText(raw []byte, v int) string {
	if raw == nil {
		return ""
	}
	return strconv.Itoa(v)
}

func dateText(raw []byte, t time.Time) string {
	if raw == nil {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04Z")
}

// diffRoot compares root: version, expiry, and per base role its keys and
// threshold.
func diffRoot(before, after []byte) ([]Change, error) {
	out, err := diffCommon("root", before, after)
	if err != nil {
		return nil, err
	}
	roles := func(raw []byte) (map[data.RoleName]*data.RootRole, error) {
		if raw == nil {
			return nil, nil
		}
		var sr data.SignedRoot
		if err := json.Unmarshal(raw, &sr); err != nil {
			return nil, err
		}
		return sr.Signed.Roles, nil
	}
	b, err := roles(before)
	if err != nil {
		return nil, err
	}
	a, err := roles(after)
	if err != nil {
		return nil, err
	}
	for _, role := range data.BaseRoles {
		var bk, ak []string
		var bt, at int
		if r := b[role]; r != nil {
			bk, bt = r.KeyIDs, r.Threshold
		}
		if r := a[role]; r != nil {
			ak, at = r.KeyIDs, r.Threshold
		}
		out = append(out, keyChanges("root", role.String()+" keys", bk, ak)...)
		if bt != at {
			out = append(out, Change{Role: "root", Field: role.String() + " threshold", From: intText(bt), To: intText(at)})
		}
	}
	return out, nil
}

// diffTargets compares targets: version, expiry, and its delegations.
func diffTargets(before, after []byte) ([]Change, error) {
	out, err := diffCommon("targets", before, after)
	if err != nil {
		return nil, err
	}
	type del struct {
		keys      []string
		threshold int
		paths     []string
	}
	dels := func(raw []byte) (map[string]del, error) {
		m := map[string]del{}
		if raw == nil {
			return m, nil
		}
		var st data.SignedTargets
		if err := json.Unmarshal(raw, &st); err != nil {
			return nil, err
		}
		for _, r := range st.Signed.Delegations.Roles {
			var ids []string
			for _, id := range r.KeyIDs {
				if k, ok := st.Signed.Delegations.Keys[id]; ok {
					if cid, err := utils.CanonicalKeyID(k); err == nil {
						id = cid
					}
				}
				ids = append(ids, id)
			}
			m[r.Name.String()] = del{keys: ids, threshold: r.Threshold, paths: r.Paths}
		}
		return m, nil
	}
	b, err := dels(before)
	if err != nil {
		return nil, err
	}
	a, err := dels(after)
	if err != nil {
		return nil, err
	}
	var names []string
	for n := range b {
		names = append(names, n)
	}
	for n := range a {
		if _, ok := b[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		bd, inB := b[n]
		ad, inA := a[n]
		switch {
		case !inB:
			out = append(out, Change{Role: n, Field: "delegation", Added: []string{n}, To: fmt.Sprintf("%d of %d keys, paths %s", ad.threshold, len(ad.keys), pathsText(ad.paths))})
		case !inA:
			out = append(out, Change{Role: n, Field: "delegation", Removed: []string{n}, From: fmt.Sprintf("%d of %d keys, paths %s", bd.threshold, len(bd.keys), pathsText(bd.paths))})
		}
		out = append(out, keyChanges(n, "keys", bd.keys, ad.keys)...)
		if inA && inB && bd.threshold != ad.threshold {
			out = append(out, Change{Role: n, Field: "threshold", From: intText(bd.threshold), To: intText(ad.threshold)})
		}
		if inA && inB && pathsText(bd.paths) != pathsText(ad.paths) {
			out = append(out, Change{Role: n, Field: "paths", From: pathsText(bd.paths), To: pathsText(ad.paths)})
		}
	}
	return out, nil
}

// keyChanges is the keys added to and removed from a set, as one change.
func keyChanges(role, field string, before, after []string) []Change {
	var added, removed []string
	for _, k := range after {
		if !slices.Contains(before, k) {
			added = append(added, k)
		}
	}
	for _, k := range before {
		if !slices.Contains(after, k) {
			removed = append(removed, k)
		}
	}
	if len(added) == 0 && len(removed) == 0 {
		return nil
	}
	sort.Strings(added)
	sort.Strings(removed)
	return []Change{{Role: role, Field: field, Added: added, Removed: removed}}
}

func intText(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func pathsText(p []string) string {
	if len(p) == 1 && p[0] == "" {
		return `"" (all)`
	}
	q := slices.Clone(p)
	sort.Strings(q)
	return strings.Join(q, ",")
}
