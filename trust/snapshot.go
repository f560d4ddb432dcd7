package trust

import (
	"bytes"
	"fmt"
	"time"

	"github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
)

// DefaultSnapshotExpiry is notary's default for snapshots.
const DefaultSnapshotExpiry = 3 * 365 * 24 * time.Hour

// ServerManagedSnapshot reports whether a root lists exactly the server's
// snapshot key: then the server signs snapshots and uploads carry none.
func ServerManagedSnapshot(r *data.SignedRoot, server data.PublicKey) bool {
	keys, _, err := RoleKeys(r, data.CanonicalSnapshotRole)
	return err == nil && len(keys) == 1 && server != nil && keys[0].ID() == server.ID()
}

// NextSnapshot is the current snapshot with the next version, a new expiry,
// and the hashes of the changed files; the other roles' entries (such as
// delegations) stay as the server has them.
func NextSnapshot(cur []byte, changed map[data.RoleName][]byte, expires time.Time) (*data.SignedSnapshot, error) {
	if cur == nil {
		return nil, fmt.Errorf("the request bundle has no snapshot.json to continue from")
	}
	var s data.Signed
	if err := json.Unmarshal(cur, &s); err != nil {
		return nil, fmt.Errorf("current snapshot: %w", err)
	}
	sn, err := data.SnapshotFromSigned(&s)
	if err != nil {
		return nil, fmt.Errorf("current snapshot: %w", err)
	}
	sn.Signed.Version++
	sn.Signed.Expires = expires.UTC()
	sn.Signatures = nil
	for role, b := range changed {
		m, err := data.NewFileMeta(bytes.NewReader(b), data.NotaryDefaultHashes...)
		if err != nil {
			return nil, err
		}
		sn.AddMeta(role, m)
	}
	return sn, nil
}

// SignedSnapshotBytes encodes a snapshot signed by the allowed keys ks holds.
func SignedSnapshotBytes(ks *KeyService, sn *data.SignedSnapshot, allowed []data.PublicKey) ([]byte, error) {
	s, err := sn.ToSigned()
	if err != nil {
		return nil, err
	}
	if err := AddSignatures(ks, s, allowed); err != nil {
		return nil, err
	}
	return Marshal(s)
}

// VerifySnapshot checks an uploaded snapshot: signed by the root's
// snapshot role, the version after prevVersion, and hashes that match the
// files it will be served with.
func VerifySnapshot(gun string, b, rootBytes []byte, prevVersion int, files map[data.RoleName][]byte) (*RoleReport, error) {
	fail := func(format string, a ...any) error {
		return &VerifyError{GUN: gun, Role: "snapshot", Reason: fmt.Sprintf(format, a...)}
	}
	var rs data.Signed
	if err := json.Unmarshal(rootBytes, &rs); err != nil {
		return nil, fail("root: %v", err)
	}
	root, err := data.RootFromSigned(&rs)
	if err != nil {
		return nil, fail("root: %v", err)
	}
	s, err := parseSigned(b)
	if err != nil {
		return nil, fail("%v", err)
	}
	sn, err := data.SnapshotFromSigned(s)
	if err != nil {
		return nil, fail("invalid snapshot metadata: %v", err)
	}
	if sn.Signed.Version != prevVersion+1 {
		return nil, fail("version %d does not follow the current version %d", sn.Signed.Version, prevVersion)
	}
	if signed.IsExpired(sn.Signed.Expires) {
		return nil, fail("expired on %s", sn.Signed.Expires.Format(time.RFC3339))
	}
	for role, f := range files {
		m, err := sn.GetMeta(role)
		if err != nil {
			return nil, fail("no entry for %s", role)
		}
		if err := data.CheckHashes(f, role.String(), m.Hashes); err != nil || m.Length != int64(len(f)) {
			return nil, fail("its %s entry does not match %s.json", role, role)
		}
	}
	role, err := root.BuildBaseRole(data.CanonicalSnapshotRole)
	if err != nil {
		return nil, fail("%v", err)
	}
	rr, bad := signers(s, role, "snapshot", sn.Signed.Version, sn.Signed.Expires)
	if bad != "" {
		return nil, fail("the signature by snapshot key %s does not verify", ShortID(bad))
	}
	return &rr, nil
}
