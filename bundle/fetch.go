package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
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
	seen := map[string]bool{}
	for _, gun := range o.GUNs {
		if seen[gun] {
			return nil, fmt.Errorf("%s is given twice", gun)
		}
		seen[gun] = true
	}
	// GUNs Server.Concurrency at a time, each written into its own slot.
	repos := make([]RequestRepo, len(o.GUNs))
	got := make([]Files, len(o.GUNs))
	errs := make([]error, len(o.GUNs))
	var mu, keyMu sync.Mutex
	done := 0
	each(max(1, o.Server.Concurrency), len(o.GUNs), func(i int) {
		repos[i], got[i], errs[i] = fetchRepo(ctx, c, o.GUNs[i], &keyMu)
		if o.Progress != nil && errs[i] == nil {
			mu.Lock()
			done++
			o.Progress(done, len(o.GUNs), o.GUNs[i])
			mu.Unlock()
		}
	})
	files := Files{}
	for i := range o.GUNs {
		if errs[i] != nil {
			return nil, errs[i]
		}
		info.Repos = append(info.Repos, repos[i])
		for p, b := range got[i] {
			files[p] = b
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

// fetchRepo fetches one GUN: its current metadata if the server has it,
// and the server's timestamp and snapshot keys.
// Its key requests are one at a time across GUNs (keyMu): each makes the
// server generate a key, and notary-server's local trust service crashed
// under concurrent key generation.
func fetchRepo(ctx context.Context, c *client, gun string, keyMu *sync.Mutex) (RequestRepo, Files, error) {
	repo := RequestRepo{GUN: gun}
	files := Files{}
	root, err := c.get(ctx, tufPath(gun, "root.json"))
	switch {
	case errors.Is(err, errNotFound):
	case err != nil:
		return repo, nil, fmt.Errorf("%s: %w", gun, err)
	default:
		var sr data.SignedRoot
		if err := json.Unmarshal(root, &sr); err != nil {
			return repo, nil, fmt.Errorf("%s: the server's root.json is not valid: %w", gun, err)
		}
		repo.Exists, repo.RootVersion = true, sr.Signed.Version
		files[RepoFile(gun, "root.json")] = root
		repo.Metadata = append(repo.Metadata, "root")
		// Every earlier root too: the offline side trusts the current
		// one only by walking the chain from the version it pinned.
		for v := 1; v < sr.Signed.Version; v++ {
			b, err := c.get(ctx, tufPath(gun, fmt.Sprintf("%d.root.json", v)))
			if err != nil {
				return repo, nil, fmt.Errorf("%s: fetching root version %d: %w", gun, v, err)
			}
			files[RepoFile(gun, RootVersionFile(v))] = b
		}
		for _, role := range []string{"targets", "snapshot", "timestamp"} {
			b, err := c.get(ctx, tufPath(gun, role+".json"))
			if errors.Is(err, errNotFound) {
				continue
			}
			if err != nil {
				return repo, nil, fmt.Errorf("%s: %w", gun, err)
			}
			files[RepoFile(gun, role+".json")] = b
			repo.Metadata = append(repo.Metadata, role)
		}
		roles, err := fetchDelegations(ctx, c, gun, files.Repo(gun, "snapshot.json"), files)
		if err != nil {
			return repo, nil, fmt.Errorf("%s: %w", gun, err)
		}
		repo.Metadata = append(repo.Metadata, roles...)
	}
	keyMu.Lock()
	defer keyMu.Unlock()
	for _, role := range []string{"timestamp", "snapshot"} {
		b, err := c.get(ctx, tufPath(gun, role+".key"))
		if err != nil {
			return repo, nil, fmt.Errorf("%s: fetching the server's %s key: %w", gun, role, err)
		}
		if _, err := data.UnmarshalPublicKey(b); err != nil {
			return repo, nil, fmt.Errorf("%s: the server's %s key is not a TUF key: %w", gun, role, err)
		}
		files[RepoFile(gun, role+".key")] = b
	}
	return repo, files, nil
}
