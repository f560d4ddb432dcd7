package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
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

// preflight compares the server's repository with what the request bundle
// saw. It reports true when every role the bundle uploads is already the
// server's, byte for byte. A repository the server does not have costs
// one request: its root.json, not found.
func preflight(ctx context.Context, c *client, b *Signed, r SignedRepo) (bool, error) {
	req, _ := b.Request.Repo(r.GUN)
	root, err := c.get(ctx, tufPath(r.GUN, "root.json"))
	if errors.Is(err, errNotFound) {
		if req.Exists {
			return false, &StaleError{r.GUN, fmt.Sprintf("the request bundle saw root version %d, but the server has no repository now", req.RootVersion)}
		}
		return false, nil
	}
	if err != nil {
		return false, err
	}
	server := map[string][]byte{"root": root}
	for _, role := range r.Upload {
		if _, ok := server[role]; ok {
			continue
		}
		cur, err := c.get(ctx, tufPath(r.GUN, role+".json"))
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		server[role] = cur
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

// uploadChecked uploads a GUN's roles, retrying under the server's
// policy. A POST is not repeated blindly: after a failure the roles are
// read back first, and if the server holds them (the upload landed, its
// answer was lost) the upload is done (landed true). notary-server stores
// one upload atomically, so a GUN is never half there.
func uploadChecked(ctx context.Context, c *client, b *Signed, r SignedRepo) (landed bool, err error) {
	p := c.retry
	for n := 1; ; n++ {
		retry, err := upload(ctx, c, r.GUN, b, r.Upload)
		if err == nil {
			return false, nil
		}
		if n > 1 || retry {
			if there, cerr := holds(ctx, c, b, r); cerr == nil && there {
				return true, nil
			}
		}
		if !retry || n >= p.Attempts || ctx.Err() != nil {
			return false, err
		}
		if werr := p.wait(ctx, n); werr != nil {
			return false, errors.Join(err, werr)
		}
	}
}

// holds says whether the server serves every role the bundle uploads for
// a GUN, byte for byte.
func holds(ctx context.Context, c *client, b *Signed, r SignedRepo) (bool, error) {
	for _, role := range r.Upload {
		cur, err := c.get(ctx, tufPath(r.GUN, role+".json"))
		if errors.Is(err, errNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if !bytes.Equal(cur, b.RepoMetadata(r.GUN, role)) {
			return false, nil
		}
	}
	return true, nil
}

// upload posts the roles as notary's client does: one multipart part per
// role, form name "files", file name the role. retry says whether the
// failure may be worth another try (a connection that failed or stalled,
// a 5xx or 429) rather than a refusal.
func upload(ctx context.Context, c *client, gun string, b *Signed, roles []string) (retry bool, err error) {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for _, role := range roles {
		part, err := w.CreateFormFile("files", role)
		if err != nil {
			return false, err
		}
		if _, err := part.Write(b.RepoMetadata(gun, role)); err != nil {
			return false, err
		}
	}
	if err := w.Close(); err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+tufPath(gun, ""), &body)
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := c.http.Do(req)
	if err != nil {
		var ae *AuthError
		return !errors.As(err, &ae), transportError("uploading to "+c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var msg bytes.Buffer
		msg.ReadFrom(resp.Body)
		return retryableStatus(resp.StatusCode), fmt.Errorf("the server refused the upload (%s): %s", resp.Status, firstLine(msg.Bytes()))
	}
	return false, nil
}

// readBack loads the repository from the server with notary's client,
// starting from the root this bundle signed (or the one it keeps), and
// compares what it finds with the bundle: three requests (timestamp,
// snapshot, targets). The server's snapshot, which notary's client
// verifies, must name that root by its hash, and every other role
// uploaded must be the bundle's bytes as the client downloaded them.
func readBack(ctx context.Context, c *client, b *Signed, r SignedRepo) (*PublishResult, error) {
	root := b.RepoMetadata(r.GUN, "root")
	if root == nil {
		root = b.Request.Metadata(r.GUN, data.CanonicalRootRole)
	}
	remote, err := store.NewNotaryServerStore(c.base, data.GUN(r.GUN), ctxTransport{c.rt, ctx})
	if err != nil {
		return nil, err
	}
	cache := store.NewMemoryStore(map[data.RoleName][]byte{data.CanonicalRootRole: root})
	pin := trustpinning.TrustPinConfig{Certs: map[string][]string{r.GUN: r.RootKeyIDs}, DisableTOFU: true}
	repo, _, err := notaryclient.LoadTUFRepo(notaryclient.TUFLoadOptions{GUN: data.GUN(r.GUN), TrustPinning: pin, RemoteStore: remote, Cache: cache})
	if err != nil {
		return nil, fmt.Errorf("notary's client does not accept the repository: %w", err)
	}
	if repo.Snapshot == nil {
		return nil, errors.New("the server serves no snapshot")
	}
	sum := sha256.Sum256(root)
	if m, ok := repo.Snapshot.Signed.Meta[data.CanonicalRootRole.String()]; !ok || m.Length != int64(len(root)) || !bytes.Equal(m.Hashes["sha256"], sum[:]) {
		return nil, errors.New("the server's snapshot does not name the bundle's root.json: the server serves another root")
	}
	for _, role := range r.Upload {
		if role == "root" {
			continue
		}
		cur, err := cache.GetSized(role, store.NoSizeLimit)
		if err != nil || !bytes.Equal(cur, b.RepoMetadata(r.GUN, role)) {
			return nil, fmt.Errorf("the server's %s.json differs from the bundle's", role)
		}
	}
	return compareRead(repo.Root, repo.Snapshot, r)
}

// compareRead checks the root notary's client ended up with against what
// the bundle says it signed.
func compareRead(root *data.SignedRoot, snapshot *data.SignedSnapshot, r SignedRepo) (*PublishResult, error) {
	res := &PublishResult{GUN: r.GUN, RootVersion: root.Signed.Version, SnapshotVersion: snapshot.Signed.Version}
	rootRole, err := root.BuildBaseRole(data.CanonicalRootRole)
	if err != nil {
		return nil, err
	}
	res.RootKeyIDs = rootRole.ListKeyIDs()
	targetsRole, err := root.BuildBaseRole(data.CanonicalTargetsRole)
	if err != nil {
		return nil, err
	}
	res.TargetsKeyIDs = targetsRole.ListKeyIDs()
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

// ctxTransport gives notary's remote store, which makes its requests
// without a context, the GUN's deadline.
type ctxTransport struct {
	rt  http.RoundTripper
	ctx context.Context
}

func (t ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.rt.RoundTrip(req.WithContext(t.ctx))
}
