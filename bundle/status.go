package bundle

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	notaryclient "github.com/theupdateframework/notary/client"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// RepoStatus is what a server serves for one repository, as notary's
// client reads and verifies it.
type RepoStatus struct {
	GUN             string              `json:"gun"`
	Exists          bool                `json:"exists"`
	RootVersion     int                 `json:"root_version,omitempty"`
	RootExpires     time.Time           `json:"root_expires,omitzero"`
	RootDaysLeft    int                 `json:"root_days_left,omitempty"`
	RootKeyIDs      []string            `json:"root_key_ids,omitempty"`
	RootThreshold   int                 `json:"root_threshold,omitempty"`
	TargetsVersion  int                 `json:"targets_version,omitempty"`
	TargetsExpires  time.Time           `json:"targets_expires,omitzero"`
	TargetsKeyIDs   []string            `json:"targets_key_ids,omitempty"`
	SnapshotVersion int                 `json:"snapshot_version,omitempty"`
	Signers         map[string][]string `json:"signers,omitempty"` // delegation -> canonical key IDs
	Warnings        []string            `json:"warnings,omitempty"`
	// Expiries are root's, targets' and each delegation's, as served.
	Expiries []RoleExpiry `json:"expiries,omitempty"`
}

// RootRefreshWindow is how long before expiry notary clients start trying
// to re-sign root themselves, which fails without the offline root key.
const RootRefreshWindow = 183 * 24 * time.Hour

// Status reads each repository from the server with notary's client code.
// With no trust pinned it trusts the served root on first use, like a
// fresh client: it reports, it does not vouch.
func Status(ctx context.Context, srv Server, guns []string, now time.Time) ([]RepoStatus, error) {
	c, err := srv.client(AccessPull)
	if err != nil {
		return nil, err
	}
	var out []RepoStatus
	for _, gun := range guns {
		st := RepoStatus{GUN: gun}
		if _, err := c.get(ctx, tufPath(gun, "root.json")); errors.Is(err, errNotFound) {
			out = append(out, st)
			continue
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", gun, err)
		}
		remote, err := store.NewNotaryServerStore(c.base, data.GUN(gun), c.rt)
		if err != nil {
			return nil, err
		}
		repo, _, err := notaryclient.LoadTUFRepo(notaryclient.TUFLoadOptions{GUN: data.GUN(gun), TrustPinning: trustpinning.TrustPinConfig{}, RemoteStore: remote})
		if err != nil {
			return nil, fmt.Errorf("%s: notary's client does not accept the repository: %w", gun, err)
		}
		st.Exists = true
		st.RootVersion, st.RootExpires = repo.Root.Signed.Version, repo.Root.Signed.Expires.UTC()
		st.RootDaysLeft = int(st.RootExpires.Sub(now).Hours() / 24)
		if rr, err := repo.Root.BuildBaseRole(data.CanonicalRootRole); err == nil {
			st.RootKeyIDs, st.RootThreshold = rr.ListKeyIDs(), rr.Threshold
		}
		if tr, err := repo.Root.BuildBaseRole(data.CanonicalTargetsRole); err == nil {
			st.TargetsKeyIDs = tr.ListKeyIDs()
		}
		if t := repo.Targets[data.CanonicalTargetsRole]; t != nil {
			st.TargetsVersion, st.TargetsExpires = t.Signed.Version, t.Signed.Expires.UTC()
			for _, d := range t.Signed.Delegations.Roles {
				if st.Signers == nil {
					st.Signers = map[string][]string{}
				}
				var ids []string
				for _, id := range d.KeyIDs {
					if k, ok := t.Signed.Delegations.Keys[id]; ok {
						if cid, err := utils.CanonicalKeyID(k); err == nil {
							id = cid
						}
					}
					ids = append(ids, id)
				}
				sort.Strings(ids)
				st.Signers[d.Name.String()] = ids
			}
		}
		if repo.Snapshot != nil {
			st.SnapshotVersion = repo.Snapshot.Signed.Version
		}
		st.Expiries = expiries(repo, now)
		if st.RootExpires.Sub(now) < RootRefreshWindow {
			st.Warnings = append(st.Warnings, fmt.Sprintf("root expires in %d days: inside six months notary clients try to re-sign root on every publish, which fails without the offline root key; run keyrite refresh now", st.RootDaysLeft))
		}
		out = append(out, st)
	}
	return out, nil
}
