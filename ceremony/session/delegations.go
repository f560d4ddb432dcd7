package session

import (
	"crypto"
	"fmt"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// Delegated loads a repository's delegation roles from the request
// bundle, checked against its current (trusted) root, snapshot and
// targets as notary's client checks them (trust.LoadDelegated).
func (b *Batch) Delegated(cur *trust.Current) (*trust.Delegated, error) {
	gun := cur.GUN
	repo, _ := b.Request.Repo(gun)
	roles := map[data.RoleName][]byte{}
	for _, m := range repo.Metadata {
		if r := data.RoleName(m); data.IsDelegation(r) {
			roles[r] = b.Request.Metadata(gun, r)
		}
	}
	return trust.LoadDelegated(gun, cur.Raw["root"], b.Request.Metadata(gun, data.CanonicalSnapshotRole), cur.Raw["targets"], roles)
}

// FileKey is a docker signer's key read from its private key file: it
// signs (each signature checked like a device's) and seals like a device
// key; the seal and transcript name its file, never its contents.
type FileKey struct {
	crypto.Signer
	Path string
}

// URI names the file the key was read from.
func (k FileKey) URI() string { return "file:" + k.Path }

// Attestation implements hsm.Key: a key from a file has none.
func (k FileKey) Attestation() (*hsm.Attestation, error) { return nil, nil }

// AddSigner puts a key held in memory (a docker signer's private key,
// read from its file) at hand for delegation roles.
func (b *Batch) AddSigner(k FileKey) (data.PublicKey, error) {
	pub, err := b.Keys.Add(k, "")
	if err != nil {
		return nil, err
	}
	b.atHand[pub.ID()] = true
	return pub, nil
}

// checkDelegationSigners refuses a change whose delegation roles cannot
// be signed by a threshold of their keys with the keys at hand.
func (b *Batch) checkDelegationSigners(gun string, ch *Change) error {
	for _, d := range ch.Delegations {
		have, missing := b.CanSign(d.Signers)
		if d.Threshold < 1 || len(have) < d.Threshold {
			return &MissingKeysError{GUN: gun, Role: d.Role.String(), Threshold: d.Threshold, Have: have, Missing: missing}
		}
	}
	return nil
}

// signDelegations signs a change's delegation roles into files, after
// targets.json and before the snapshot, recording each file's hash.
func (b *Batch) signDelegations(gun string, ch *Change, sr *bundle.SignedRepo, files bundle.Files, ev map[string]any) error {
	if len(ch.Delegations) == 0 {
		return nil
	}
	hashes := map[string]string{}
	for _, d := range ch.Delegations {
		out, err := trust.SignedTargetsBytes(b.Keys, d.Targets, d.Signers)
		if err != nil {
			return fmt.Errorf("%s: signing %s: %w", gun, d.Role, err)
		}
		files[bundle.RepoFile(gun, d.Role.String()+".json")] = out
		sr.Upload = append(sr.Upload, d.Role.String())
		hashes[d.Role.String()] = bundle.SHA256Hex(out)
	}
	ev["delegations_sha256"] = hashes
	return nil
}
