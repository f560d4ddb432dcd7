package trust

import (
	"fmt"

	"github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// RootKey is one root key a root.json names.
type RootKey struct {
	KeyID       string `json:"key_id"`       // the certificate key's ID, as in root.json
	CanonicalID string `json:"canonical_id"` // the bare public key's ID
	CommonName  string `json:"common_name"`  // the certificate's CN: the GUN
}

// RootKeys lists the root keys of a root.json (as a server or a signed
// bundle holds it), without checking its signatures.
func RootKeys(rootJSON []byte) ([]RootKey, error) {
	var s data.Signed
	if err := json.Unmarshal(rootJSON, &s); err != nil {
		return nil, fmt.Errorf("not a root.json: %v", err)
	}
	root, err := data.RootFromSigned(&s)
	if err != nil {
		return nil, fmt.Errorf("not a root.json: %v", err)
	}
	role, err := root.BuildBaseRole(data.CanonicalRootRole)
	if err != nil {
		return nil, err
	}
	var out []RootKey
	for _, id := range role.ListKeyIDs() {
		k := role.Keys[id]
		canon, err := CanonicalID(k)
		if err != nil {
			return nil, err
		}
		rk := RootKey{KeyID: id, CanonicalID: canon}
		if cert, err := utils.LoadCertFromPEM(k.Public()); err == nil {
			rk.CommonName = cert.Subject.CommonName
		}
		out = append(out, rk)
	}
	return out, nil
}
