package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"slices"
	"sort"

	notaryclient "github.com/theupdateframework/notary/client"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"
)

// PublishOptions control Publish.
type PublishOptions struct {
	Server   Server
	Bundle   *Signed
	Progress func(done, total int, gun, state string)
}

// PublishResult says what the server holds for a GUN after publishing,
// as notary's client code read and verified it.
type PublishResult struct {
	GUN             string   `json:"gun"`
	AlreadyThere    bool     `json:"already_published"`
	RootVersion     int      `json:"root_version"`
	RootKeyIDs      []string `json:"root_key_ids"`
	TargetsKeyIDs   []string `json:"targets_key_ids"`
	SnapshotVersion int      `json:"snapshot_version"`
}

// StaleError is a request bundle that no longer matches the server.
type StaleError struct{ GUN, Reason string }

func (e *StaleError) Error() string { return fmt.Sprintf("%s: %s", e.GUN, e.Reason) }

// Publish uploads every GUN of a verified signed bundle, then reads each
// repository back with notary's client code, pinned to the root
// certificates the bundle carries. It checks every GUN against the server
// before uploading any, so a stale bundle changes nothing.
func Publish(ctx context.Context, o PublishOptions) ([]PublishResult, error) {
	c, err := o.Server.client(AccessPushPull)
	if err != nil {
		return nil, err
	}
	b := o.Bundle
	if c.base != b.Info.Server {
		return nil, fmt.Errorf("this bundle was prepared for %s (its request bundle was fetched there), not %s: publish it to the server it was made for, or fetch and sign again", b.Info.Server, c.base)
	}
	already := map[string]bool{}
	for _, r := range b.Info.Repos {
		same, err := preflight(ctx, c, b, r)
		if err != nil {
			return nil, err
		}
		already[r.GUN] = same
	}
	var out []PublishResult
	for i, r := range b.Info.Repos {
		if !already[r.GUN] {
			if err := upload(ctx, c, r.GUN, b, r.Upload); err != nil {
				return out, fmt.Errorf("%s: %w (published before it: %d of %d)", r.GUN, err, i, len(b.Info.Repos))
			}
		}
		res, err := readBack(ctx, c, b, r)
		if err != nil {
			return out, fmt.Errorf("%s: uploaded, but reading it back failed: %w", r.GUN, err)
		}
		res.AlreadyThere = already[r.GUN]
		out = append(out, *res)
		if o.Progress != nil {
			state := "published"
			if res.AlreadyThere {
				state = "already published"
			}
			o.Progress(i+1, len(b.Info.Repos), r.GUN, state)
		}
	}
	return out, nil
}

// preflight compares the server's repository with what the request bundle
// saw. It reports true when every role the bundle uploads is already the
// server's, byte for byte.
func preflight(ctx context.Context, c *client, b *Signed, r SignedRepo) (bool, error) {
	req, _ := b.Request.Repo(r.GUN)
	server := map[string][]byte{}
	for _, role := range append([]string{"root"}, r.Upload...) {
		if _, ok := server[role]; ok {
			continue
		}
		cur, err := c.get(ctx, tufPath(r.GUN, role+".json"))
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("%s: %w", r.GUN, err)
		}
		server[role] = cur
	}
	if server["root"] == nil {
		if req.Exists {
			return false, &StaleError{r.GUN, fmt.Sprintf("the request bundle saw root version %d, but the server has no repository now", req.RootVersion)}
		}
		return false, nil
	}
	already := true
	for _, role := range r.Upload {
		already = already && bytes.Equal(server[role], b.RepoMetadata(r.GUN, role))
	}
	if already {
		return true, nil
	}
	if !req.Exists {
		return false, &StaleError{r.GUN, "the repository was created on the server after the request bundle was fetched; fetch again: init cannot create it twice"}
	}
	for _, role := range append([]string{"root"}, r.Upload...) {
		have, saw := MetaVersion(server[role]), MetaVersion(b.Request.Files.Repo(r.GUN, role+".json"))
		if server[role] != nil && have != saw {
			return false, &StaleError{r.GUN, fmt.Sprintf("the server has %s version %d, the request bundle was fetched at version %d; fetch again and sign again", role, have, saw)}
		}
	}
	return false, nil
}

// MetaVersion reads the version of a metadata file, 0 when unreadable.
func MetaVersion(b []byte) int {
	var m struct {
		Signed struct {
			Version int `json:"version"`
		} `json:"signed"`
	}
	if json.Unmarshal(b, &m) != nil {
		return 0
	}
	return m.Signed.Version
}

// upload posts the roles as notary's client does: one multipart part per
// role, form name "files", file name the role.
func upload(ctx context.Context, c *client, gun string, b *Signed, roles []string) error {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for _, role := range roles {
		part, err := w.CreateFormFile("files", role)
		if err != nil {
			return err
		}
		if _, err := part.Write(b.RepoMetadata(gun, role)); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+tufPath(gun, ""), &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := c.http.Do(req)
	if err != nil {
		return transportError("uploading to "+c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var msg bytes.Buffer
		msg.ReadFrom(resp.Body)
		return fmt.Errorf("the server refused the upload (%s): %s", resp.Status, firstLine(msg.Bytes()))
	}
	return nil
}

// readBack loads the repository from the server with notary's client,
// trusting only the root certificates this bundle signed, and compares what
// it finds with the bundle.
func readBack(ctx context.Context, c *client, b *Signed, r SignedRepo) (*PublishResult, error) {
	for _, role := range r.Upload {
		cur, err := c.get(ctx, tufPath(r.GUN, role+".json"))
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(cur, b.RepoMetadata(r.GUN, role)) {
			return nil, fmt.Errorf("the server's %s.json differs from the bundle's", role)
		}
	}
	remote, err := store.NewNotaryServerStore(c.base, data.GUN(r.GUN), c.rt)
	if err != nil {
		return nil, err
	}
	pin := trustpinning.TrustPinConfig{Certs: map[string][]string{r.GUN: r.RootKeyIDs}, DisableTOFU: true}
	repo, _, err := notaryclient.LoadTUFRepo(notaryclient.TUFLoadOptions{GUN: data.GUN(r.GUN), TrustPinning: pin, RemoteStore: remote})
	if err != nil {
		return nil, fmt.Errorf("notary's client does not accept the repository: %w", err)
	}
	res := &PublishResult{GUN: r.GUN, RootVersion: repo.Root.Signed.Version}
	rootRole, err := repo.Root.BuildBaseRole(data.CanonicalRootRole)
	if err != nil {
		return nil, err
	}
	res.RootKeyIDs = rootRole.ListKeyIDs()
	targetsRole, err := repo.Root.BuildBaseRole(data.CanonicalTargetsRole)
	if err != nil {
		return nil, err
	}
	res.TargetsKeyIDs = targetsRole.ListKeyIDs()
	if repo.Snapshot != nil {
		res.SnapshotVersion = repo.Snapshot.Signed.Version
	}
	sort.Strings(res.RootKeyIDs)
	want := slices.Clone(r.RootKeyIDs)
	sort.Strings(want)
	if res.RootVersion != r.RootVersion || !slices.Equal(res.RootKeyIDs, want) {
		return nil, fmt.Errorf("the server serves root version %d with keys %v, the bundle signed version %d with keys %v", res.RootVersion, res.RootKeyIDs, r.RootVersion, want)
	}
	if r.TargetsKeyID != "" && !slices.Equal(res.TargetsKeyIDs, []string{r.TargetsKeyID}) {
		return nil, fmt.Errorf("the server's root names targets keys %v, the bundle %s", res.TargetsKeyIDs, r.TargetsKeyID)
	}
	return res, nil
}
