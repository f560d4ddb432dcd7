package trust

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
)

// Default expiries, as notary's client uses them.
const (
	DefaultRootExpiry    = 10 * 365 * 24 * time.Hour
	DefaultTargetsExpiry = 3 * 365 * 24 * time.Hour
)

// NewRepoSpec is what a new repository's first root and targets need.
type NewRepoSpec struct {
	GUN           string
	RootKeys      []crypto.Signer // device keys; each gets a certificate for this GUN
	RootThreshold int             // 0 means 1
	TargetsKey    crypto.Signer
	Timestamp     data.PublicKey // server-managed keys from the request bundle
	Snapshot      data.PublicKey
	Now           time.Time
	RootExpires   time.Time
	TargetsExpiry time.Time
	Rand          io.Reader
}

// NewRepo is a freshly signed repository.
type NewRepo struct {
	GUN          string
	Root         []byte // canonical JSON, as uploaded
	Targets      []byte
	RootCerts    []*x509.Certificate
	RootKeyIDs   []string // certificate key IDs, as in root.json
	RootKeyBare  []string // canonical (bare public key) IDs
	TargetsKeyID string
	RootExpires  time.Time
}

// CreateRepository builds and signs root.json (version 1) and an empty
// targets.json for a new repository, signing through ks, which must hold
// the root and targets keys.
func CreateRepository(ks *KeyService, spec NewRepoSpec) (*NewRepo, error) {
	if err := ValidateGUN(spec.GUN); err != nil {
		return nil, err
	}
	if len(spec.RootKeys) == 0 || spec.TargetsKey == nil || spec.Timestamp == nil || spec.Snapshot == nil {
		return nil, errors.New("new repository needs root keys, a targets key and the server's timestamp and snapshot keys")
	}
	threshold := spec.RootThreshold
	if threshold == 0 {
		threshold = 1
	}
	if threshold > len(spec.RootKeys) {
		return nil, fmt.Errorf("root threshold %d is more than the %d root keys", threshold, len(spec.RootKeys))
	}
	out := &NewRepo{GUN: spec.GUN, RootExpires: spec.RootExpires.UTC()}
	var rootKeys, bareKeys []data.PublicKey
	for _, k := range spec.RootKeys {
		cert, pub, err := ks.Certify(k, spec.GUN, spec.Now.Add(-time.Minute), spec.RootExpires, spec.Rand)
		if err != nil {
			return nil, err
		}
		bare, err := ks.Add(k, data.CanonicalRootRole)
		if err != nil {
			return nil, err
		}
		out.RootCerts = append(out.RootCerts, cert)
		out.RootKeyIDs = append(out.RootKeyIDs, pub.ID())
		out.RootKeyBare = append(out.RootKeyBare, bare.ID())
		bareKeys = append(bareKeys, bare)
		rootKeys = append(rootKeys, pub)
	}
	targetsPub, err := ks.Add(spec.TargetsKey, data.CanonicalTargetsRole)
	if err != nil {
		return nil, err
	}
	out.TargetsKeyID = targetsPub.ID()
	if err := DistinctKeys(bareKeys); err != nil {
		return nil, err
	}

	repo := tuf.NewRepo(ks)
	if err := repo.InitRoot(
		data.NewBaseRole(data.CanonicalRootRole, threshold, rootKeys...),
		data.NewBaseRole(data.CanonicalTimestampRole, 1, spec.Timestamp),
		data.NewBaseRole(data.CanonicalSnapshotRole, 1, spec.Snapshot),
		data.NewBaseRole(data.CanonicalTargetsRole, 1, targetsPub),
		false,
	); err != nil {
		return nil, fmt.Errorf("%s: root: %w", spec.GUN, err)
	}
	if _, err := repo.InitTargets(data.CanonicalTargetsRole); err != nil {
		return nil, fmt.Errorf("%s: targets: %w", spec.GUN, err)
	}
	root, err := signNewRoot(ks, repo, spec.RootExpires.UTC())
	if err != nil {
		return nil, fmt.Errorf("%s: signing root: %w", spec.GUN, err)
	}
	targets, err := repo.SignTargets(data.CanonicalTargetsRole, spec.TargetsExpiry.UTC())
	if err != nil {
		return nil, fmt.Errorf("%s: signing targets: %w", spec.GUN, err)
	}
	if out.Root, err = Marshal(root); err != nil {
		return nil, err
	}
	if out.Targets, err = Marshal(targets); err != nil {
		return nil, err
	}
	return out, nil
}

// signNewRoot signs version 1 of the root repo.InitRoot made, as notary's
// repo.SignRoot does the first time: the root role's keys sign the root
// with the expiry given. SignRoot first copies the root through JSON (to
// leave it unchanged if signing fails), a sixth of a new repository's work
// besides its signatures; a new repository's root has nothing to keep.
// TestSignNewRootIsNotarys compares the two.
func signNewRoot(ks *KeyService, repo *tuf.Repo, expires time.Time) (*data.Signed, error) {
	role, err := repo.GetBaseRole(data.CanonicalRootRole)
	if err != nil {
		return nil, err
	}
	if repo.Root.Signed.Version != 0 {
		return nil, fmt.Errorf("root version %d is not new", repo.Root.Signed.Version)
	}
	repo.Root.Signed.Expires = expires
	repo.Root.Signed.Version = 1
	s, err := repo.Root.ToSigned()
	if err != nil {
		return nil, err
	}
	keys := role.ListKeys()
	if err := signed.Sign(ks, s, keys, role.Threshold, keys); err != nil {
		return nil, err
	}
	repo.Root.Signatures = s.Signatures
	return s, nil
}

// Marshal encodes signed metadata exactly as notary's client uploads it:
// the envelope in notary's field order ("signed", then "signatures") with
// the canonical "signed" bytes inside. notary-server recomputes snapshot
// hashes over this same serialization, so any other byte order would make
// the server's snapshot disagree with the stored file.
func Marshal(s *data.Signed) ([]byte, error) {
	return json.Marshal(s)
}
