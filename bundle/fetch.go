package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
)

// FetchOptions control Fetch.
type FetchOptions struct {
	Server   Server
	GUNs     []string
	Out      string
	Now      time.Time
	Progress func(done, total int, gun string)
}

// Fetch asks the server for what an offline ceremony needs for each GUN
// and writes a request bundle: the server's timestamp and snapshot keys
// (each fetched exactly once: while a GUN has no root, every request makes
// the server generate a new key) and the current metadata of existing
// repositories, with every delegation role the snapshot lists.
func Fetch(ctx context.Context, o FetchOptions) (*RequestInfo, error) {
	c, err := o.Server.client(AccessPushPull)
	if err != nil {
		return nil, err
	}
	if err := ping(ctx, c.bare, c.base); err != nil {
		return nil, fmt.Errorf("%s does not answer as a notary server: %w", c.base, err)
	}
	info := &RequestInfo{Format: requestFormat, Server: c.base, FetchedAt: o.Now.UTC(), Keyrite: currentBuild()}
	files := Files{}
	seen := map[string]bool{}
	for i, gun := range o.GUNs {
		if seen[gun] {
			return nil, fmt.Errorf("%s is given twice", gun)
		}
		seen[gun] = true
		repo := RequestRepo{GUN: gun}
		root, err := c.get(ctx, tufPath(gun, "root.json"))
		switch {
		case errors.Is(err, errNotFound):
		case err != nil:
			return nil, fmt.Errorf("%s: %w", gun, err)
		default:
			var sr data.SignedRoot
			if err := json.Unmarshal(root, &sr); err != nil {
				return nil, fmt.Errorf("%s: the server's root.json is not valid: %w", gun, err)
			}
			repo.Exists, repo.RootVersion = true, sr.Signed.Version
			files[RepoFile(gun, "root.json")] = root
			repo.Metadata = append(repo.Metadata, "root")
			// Every earlier root too: the offline side trusts the current
			// one only by walking the chain from the version it pinned.
			for v := 1; v < sr.Signed.Version; v++ {
				b, err := c.get(ctx, tufPath(gun, fmt.Sprintf("%d.root.json", v)))
				if err != nil {
					return nil, fmt.Errorf("%s: fetching root version %d: %w", gun, v, err)
				}
				files[RepoFile(gun, RootVersionFile(v))] = b
			}
			for _, role := range []string{"targets", "snapshot", "timestamp"} {
				b, err := c.get(ctx, tufPath(gun, role+".json"))
				if errors.Is(err, errNotFound) {
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("%s: %w", gun, err)
				}
				files[RepoFile(gun, role+".json")] = b
				repo.Metadata = append(repo.Metadata, role)
			}
			roles, err := fetchDelegations(ctx, c, gun, files.Repo(gun, "snapshot.json"), files)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", gun, err)
			}
			repo.Metadata = append(repo.Metadata, roles...)
		}
		for _, role := range []string{"timestamp", "snapshot"} {
			b, err := c.get(ctx, tufPath(gun, role+".key"))
			if err != nil {
				return nil, fmt.Errorf("%s: fetching the server's %s key: %w", gun, role, err)
			}
			if _, err := data.UnmarshalPublicKey(b); err != nil {
				return nil, fmt.Errorf("%s: the server's %s key is not a TUF key: %w", gun, role, err)
			}
			files[RepoFile(gun, role+".key")] = b
		}
		info.Repos = append(info.Repos, repo)
		if o.Progress != nil {
			o.Progress(i+1, len(o.GUNs), gun)
		}
	}
	ib, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, err
	}
	files[RequestInfoName] = append(ib, '\n')
	if err := Write(o.Out, KindRequest, files); err != nil {
		return nil, err
	}
	return info, nil
}
