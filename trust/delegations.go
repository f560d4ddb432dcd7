package trust

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// ReleasesRole is the delegation docker reads tags from besides targets.
const ReleasesRole = data.RoleName("targets/releases")

// ParseSignerKey reads a signer's public key as docker writes it (PUBLIC
// KEY PEM, e.g. from docker trust key generate) or a CERTIFICATE PEM.
// Only ECDSA and RSA keys can sign for docker.
func ParseSignerKey(pemBytes []byte) (data.PublicKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("not a PEM public key or certificate")
	}
	if block.Type == "PUBLIC KEY" {
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		switch pub.(type) {
		case *ecdsa.PublicKey, *rsa.PublicKey:
		default:
			return nil, fmt.Errorf("%s keys cannot be docker signers: use an ECDSA or RSA key (docker trust key generate makes one)", keyKind(pub))
		}
	}
	k, err := utils.ParsePEMPublicKey(pemBytes)
	if err != nil {
		return nil, err
	}
	switch k.Algorithm() {
	case data.ECDSAKey, data.ECDSAx509Key, data.RSAKey, data.RSAx509Key:
		return k, nil
	}
	return nil, fmt.Errorf("%s keys cannot be docker signers: use an ECDSA or RSA key (docker trust key generate makes one)", k.Algorithm())
}

func keyKind(pub any) string {
	switch pub.(type) {
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// SignerRole is the delegation role of a named signer.
func SignerRole(name string) (data.RoleName, error) {
	r := data.RoleName("targets/" + name)
	if name == "" || name == "releases" || !data.IsDelegation(r) || r.Parent() != data.CanonicalTargetsRole {
		return "", fmt.Errorf("invalid signer name %q: lowercase letters, digits, - and _ (and not \"releases\")", name)
	}
	return r, nil
}

// AddSigner adds targets/NAME with the keys, and the keys to
// targets/releases, exactly as docker trust signer add does (threshold 1 on
// releases, paths [""] on both). Adding keys to an existing signer keeps
// the old ones.
func AddSigner(t *data.SignedTargets, name string, keys []data.PublicKey, threshold int) error {
	role, err := SignerRole(name)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return fmt.Errorf("signer %s: no key given", name)
	}
	if threshold < 1 {
		threshold = 1
	}
	d := &t.Signed.Delegations
	if d.Keys == nil {
		d.Keys = data.Keys{}
	}
	var ids []string
	for _, k := range keys {
		d.Keys[k.ID()] = k
		ids = append(ids, k.ID())
	}
	signer := addRoleKeys(d, role, ids, 0)
	if threshold > len(signer.KeyIDs) {
		return fmt.Errorf("signer %s: threshold %d is more than its %d keys", name, threshold, len(signer.KeyIDs))
	}
	signer.Threshold = threshold
	addRoleKeys(d, ReleasesRole, ids, 1)
	return nil
}

// addRoleKeys adds key IDs to a delegation, creating it with paths [""]
// (everything) if needed; a threshold of 0 keeps the existing one.
func addRoleKeys(d *data.Delegations, name data.RoleName, ids []string, threshold int) *data.Role {
	i := utils.FindRoleIndex(d.Roles, name)
	if i < 0 {
		d.Roles = append(d.Roles, &data.Role{Name: name, Paths: []string{""}, RootRole: data.RootRole{Threshold: 1}})
		i = len(d.Roles) - 1
	}
	r := d.Roles[i]
	for _, id := range ids {
		if !slices.Contains(r.KeyIDs, id) {
			r.KeyIDs = append(r.KeyIDs, id)
		}
	}
	if threshold > 0 {
		r.Threshold = threshold
	}
	return r
}

// ErrLastReleasesKey refuses to leave targets/releases without keys.
type ErrLastReleasesKey struct{ Signer string }

func (e *ErrLastReleasesKey) Error() string {
	return fmt.Sprintf("removing %s would leave targets/releases without keys: nobody could sign new tags", e.Signer)
}

// RemoveSigner removes targets/NAME and takes its keys out of
// targets/releases (keys another signer still uses stay), as docker trust
// signer remove does. Emptying releases needs force.
func RemoveSigner(t *data.SignedTargets, name string, force bool) error {
	role, err := SignerRole(name)
	if err != nil {
		return err
	}
	d := &t.Signed.Delegations
	i := utils.FindRoleIndex(d.Roles, role)
	if i < 0 {
		return fmt.Errorf("%s has no signer %q", "the repository", name)
	}
	gone := d.Roles[i].KeyIDs
	d.Roles = slices.Delete(d.Roles, i, i+1)
	stillUsed := map[string]bool{}
	for _, r := range d.Roles {
		if r.Name == ReleasesRole {
			continue
		}
		for _, id := range r.KeyIDs {
			stillUsed[id] = true
		}
	}
	if ri := utils.FindRoleIndex(d.Roles, ReleasesRole); ri >= 0 {
		rel := d.Roles[ri]
		rel.KeyIDs = slices.DeleteFunc(rel.KeyIDs, func(id string) bool { return slices.Contains(gone, id) && !stillUsed[id] })
		if len(rel.KeyIDs) == 0 && !force {
			return &ErrLastReleasesKey{Signer: name}
		}
		if len(rel.KeyIDs) == 0 {
			d.Roles = slices.Delete(d.Roles, ri, ri+1)
		}
	}
	utils.RemoveUnusedKeys(t)
	return nil
}
