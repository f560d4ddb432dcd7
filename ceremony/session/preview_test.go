package session

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// The preview sees every repository's change after all were checked and
// before anything is signed; refusing it leaves nothing behind.
func TestPreviewBeforeSigning(t *testing.T) {
	env, _, token := testEnv(t)
	ctx := context.Background()
	b, _, err := env.Registry.OpenDevice(ctx, token, env.HSM)
	if err != nil {
		t.Fatal(err)
	}
	root, err := b.Open(ctx, token+";object=root")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	req := filepath.Join(dir, "request")
	guns := []string{"example.com/p1", "example.com/p2"}
	rootID, tofu := writeExistingWith(t, req, root, guns...)
	b.Close()
	env.TOFU = tofu

	var seen *Preview
	mutated := 0
	update := func(out string) Update {
		return Update{UpdateOptions: UpdateOptions{Request: req, Out: out, GUNs: guns, Keys: []string{token + ";object=root"}},
			Mutate: func(ctx context.Context, b *Batch, cur *trust.Current) (*Change, error) {
				mutated++
				next, err := cur.NextRoot(fixed.AddDate(3, 0, 0))
				if err != nil {
					return nil, err
				}
				keys, _, _ := trust.RoleKeys(cur.Root, data.CanonicalRootRole)
				return &Change{Root: next, RootSigners: keys}, nil
			}}
	}
	refused := errors.New("refused at the preview")
	env.Preview = func(p *Preview) error {
		if mutated != len(guns) {
			t.Errorf("preview after %d of %d changes were computed", mutated, len(guns))
		}
		seen = p
		return refused
	}
	out := filepath.Join(dir, "signed")
	if _, err := RunUpdate(ctx, env, "refresh", update(out)); !errors.Is(err, refused) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused preview left %s", out)
	}
	if seen == nil || seen.Command != "refresh" || len(seen.Repos) != 2 {
		t.Fatalf("preview = %+v", seen)
	}
	r := seen.Repos[0]
	if r.GUN != guns[0] || !r.Root || r.RootVersion != [2]int{1, 2} || len(r.RootKeysKept) != 1 || r.RootKeysKept[0] != rootID ||
		len(r.RootKeysAdded)+len(r.RootKeysRemoved) != 0 || r.RootThreshold != [2]int{1, 1} || !r.RootExpires[1].Equal(fixed.AddDate(3, 0, 0)) || r.Targets {
		t.Errorf("repo preview = %+v", r)
	}

	env.Preview = func(*Preview) error { return nil }
	mutated = 0
	res, err := RunUpdate(ctx, env, "refresh", update(out))
	if err != nil || len(res.Repos) != 2 {
		t.Fatalf("accepted preview: %v", err)
	}
}

// writeExistingWith writes a request bundle for existing repositories
// whose root key is k, and returns k's canonical ID and each GUN's root
// key IDs.
func writeExistingWith(t *testing.T, dir string, k crypto.Signer, guns ...string) (string, map[string][]string) {
	t.Helper()
	tofu := map[string][]string{}
	info := bundle.RequestInfo{Format: "keyrite-request/v1", Server: "https://notary.example:4443", FetchedAt: fixed}
	files := bundle.Files{}
	for _, gun := range guns {
		pub := func() data.PublicKey {
			p, _, _ := ed25519.GenerateKey(rand.Reader)
			return data.NewED25519PublicKey(p)
		}
		ts, ss := pub(), pub()
		repo, err := trust.CreateRepository(trust.NewKeyService(), trust.NewRepoSpec{GUN: gun, RootKeys: []crypto.Signer{k}, TargetsKey: k,
			Timestamp: ts, Snapshot: ss, Now: fixed, RootExpires: fixed.AddDate(5, 0, 0), TargetsExpiry: fixed.AddDate(1, 0, 0), Rand: rand.Reader})
		if err != nil {
			t.Fatal(err)
		}
		tofu[gun] = repo.RootKeyIDs
		info.Repos = append(info.Repos, bundle.RequestRepo{GUN: gun, Exists: true, RootVersion: 1, Metadata: []string{"root", "targets"}})
		files[bundle.RepoFile(gun, "root.json")] = repo.Root
		files[bundle.RepoFile(gun, "targets.json")] = repo.Targets
		for role, k := range map[string]data.PublicKey{"timestamp": ts, "snapshot": ss} {
			kb, _ := json.Marshal(k)
			files[bundle.RepoFile(gun, role+".key")] = kb
		}
	}
	ib, _ := json.Marshal(info)
	files[bundle.RequestInfoName] = ib
	if err := bundle.Write(dir, bundle.KindRequest, files); err != nil {
		t.Fatal(err)
	}
	p, _ := trust.PublicKey(k.Public())
	id, _ := trust.CanonicalID(p)
	return id, tofu
}
