package bundle

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// fetchDelegations adds every delegation role the snapshot lists to files,
// each by its consistent name (ROLE.SHA256.json, as notary's client asks),
// so that what is fetched is exactly the version this snapshot names even
// while a CI job publishes a new one. It returns the roles, parents first.
// The offline side checks them against the snapshot again: fetch runs on
// the online machine, and nothing it writes is trusted for having been
// written by it.
func fetchDelegations(ctx context.Context, c *client, gun string, snapshot []byte, files Files) ([]string, error) {
	if snapshot == nil {
		return nil, nil
	}
	var sn struct {
		Signed struct {
			Meta map[string]data.FileMeta `json:"meta"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(snapshot, &sn); err != nil {
		return nil, fmt.Errorf("the server's snapshot.json is not valid: %w", err)
	}
	var roles utils.RoleList
	for name := range sn.Signed.Meta {
		if data.IsDelegation(data.RoleName(name)) {
			roles = append(roles, name)
		}
	}
	sort.Sort(roles)
	for _, role := range roles {
		sum, ok := sn.Signed.Meta[role].Hashes["sha256"]
		if !ok {
			return nil, fmt.Errorf("the server's snapshot lists %s without a SHA-256", role)
		}
		b, err := c.get(ctx, tufPath(gun, role+"."+hex.EncodeToString(sum)+".json"))
		if err != nil {
			return nil, fmt.Errorf("fetching delegation role %s: %w", role, err)
		}
		files[RepoFile(gun, role+".json")] = b
	}
	return roles, nil
}
