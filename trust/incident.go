package trust

import (
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/docker/go/canonical/json"
	"github.com/keyrite/keyrite/internal/canonjson"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/utils"
)

// TagRecord is a tag as one role's metadata holds it.
type TagRecord struct {
	Name    string `json:"name"`
	Digest  string `json:"digest"` // sha256, hex
	Size    int64  `json:"size"`
	Role    string `json:"role"`
	Version int    `json:"version"` // of the role's metadata that holds it
}

// DelegationChange is a delegation role's next metadata, unsigned, and the
// keys its parent lists for it (Threshold of them must sign).
type DelegationChange struct {
	Role      data.RoleName
	Targets   *data.SignedTargets
	Signers   []data.PublicKey
	Threshold int
}

// KeySwap takes compromised keys out of every delegation role of a
// repository and puts a new key in their place.
type KeySwap struct {
	Compromised map[string]bool // canonical key IDs
	New         data.PublicKey  // the key that takes their place in every role that listed them
	// Keep says whether a tag of a role the compromised keys signed
	// stays; nil keeps every tag.
	Keep    func(tag string) bool
	Expires time.Time // of re-signed delegation roles; zero keeps theirs
}

// SwapResult is what a KeySwap changed.
type SwapResult struct {
	TargetsChanged bool               // targets.json lists other keys now
	Changes        []DelegationChange // delegation roles to sign, parents first
	Relisted       []string           // roles whose keys changed
	SignedRoles    []string           // roles whose current metadata the compromised keys signed
	Dropped, Kept  []TagRecord        // the tags of those roles
	// Writable are the tags of roles that list a compromised key but whose
	// current metadata other keys signed: an earlier version the
	// compromised key signed may have put them there. Kept; for review.
	Writable []TagRecord
}

// ThresholdError is a delegation role left with fewer keys than its
// threshold.
type ThresholdError struct {
	GUN       string
	Role      data.RoleName
	Keys      int
	Threshold int
}

func (e *ThresholdError) Error() string {
	return fmt.Sprintf("%s: %s would keep %d key(s) for a threshold of %d", e.GUN, e.Role, e.Keys, e.Threshold)
}

// SwapKeys edits next (targets.json's next version, unsigned) and
// returns the delegation roles to re-sign: every role that listed a
// compromised key lists the new key instead; every role whose current
// metadata a compromised key signed loses the tags Keep does not keep and
// is re-signed, as is every delegation whose own listing changed.
func SwapKeys(d *Delegated, next *data.SignedTargets, s KeySwap) (*SwapResult, error) {
	cur := Listings(d.Targets, d.Roles)
	res := &SwapResult{}
	nextRoles, err := d.Clone()
	if err != nil {
		return nil, err
	}
	nextRoles[data.CanonicalTargetsRole] = next
	changed := map[data.RoleName]bool{}
	for _, r := range d.Names() {
		by, err := SignedByKeys(d.Raw[r], cur[r], s.Compromised)
		if err != nil {
			return nil, &VerifyError{GUN: d.GUN, Role: r.String(), Reason: err.Error()}
		}
		if len(by) == 0 {
			if listsAny(cur[r], s.Compromised) {
				for _, tag := range SortedTags(d.Roles[r]) {
					res.Writable = append(res.Writable, Tag(r, d.Roles[r], tag))
				}
			}
			continue
		}
		res.SignedRoles = append(res.SignedRoles, r.String())
		t := nextRoles[r]
		for _, tag := range SortedTags(t) {
			rec := Tag(r, d.Roles[r], tag)
			if s.Keep == nil || s.Keep(tag) {
				res.Kept = append(res.Kept, rec)
				continue
			}
			res.Dropped = append(res.Dropped, rec)
			delete(t.Signed.Targets, tag)
		}
		changed[r] = true
	}
	for parent, t := range nextRoles {
		relisted, err := swapListed(d.GUN, t, s)
		if err != nil {
			return nil, err
		}
		if len(relisted) > 0 {
			res.Relisted = append(res.Relisted, relisted...)
			changed[parent] = true
		}
	}
	sort.Strings(res.Relisted)
	res.TargetsChanged = changed[data.CanonicalTargetsRole]
	delete(nextRoles, data.CanonicalTargetsRole)
	res.Changes = NextDelegations(next, nextRoles, changed, s.Expires)
	return res, nil
}

// swapListed replaces the compromised keys in the roles t lists.
func swapListed(gun string, t *data.SignedTargets, s KeySwap) ([]string, error) {
	var out []string
	dk := &t.Signed.Delegations
	for _, role := range dk.Roles {
		kept := slices.DeleteFunc(slices.Clone(role.KeyIDs), func(id string) bool {
			k, ok := dk.Keys[id]
			if !ok {
				return false
			}
			c, err := CanonicalID(k)
			return err == nil && s.Compromised[c]
		})
		if len(kept) == len(role.KeyIDs) {
			continue
		}
		if s.New != nil && !slices.Contains(kept, s.New.ID()) {
			kept = append(kept, s.New.ID())
			if dk.Keys == nil {
				dk.Keys = data.Keys{}
			}
			dk.Keys[s.New.ID()] = s.New
		}
		if len(kept) < role.Threshold {
			return nil, &ThresholdError{GUN: gun, Role: role.Name, Keys: len(kept), Threshold: role.Threshold}
		}
		role.KeyIDs = kept
		out = append(out, role.Name.String())
	}
	utils.RemoveUnusedKeys(t)
	return out, nil
}

// NextDelegations turns the changed delegation roles of roles (next
// versions, edited) into changes: version raised by one, signatures
// dropped, and the keys next and the other roles now list for each.
func NextDelegations(next *data.SignedTargets, roles map[data.RoleName]*data.SignedTargets, changed map[data.RoleName]bool, expires time.Time) []DelegationChange {
	listings := Listings(next, roles)
	var names []string
	for r := range roles {
		if changed[r] {
			names = append(names, r.String())
		}
	}
	sort.Sort(utils.RoleList(names))
	var out []DelegationChange
	for _, n := range names {
		r := data.RoleName(n)
		t := roles[r]
		t.Signed.Version++
		t.Signatures = nil
		if !expires.IsZero() {
			t.Signed.Expires = expires.UTC()
		}
		ch := DelegationChange{Role: r, Targets: t}
		if l, ok := listings[r]; ok {
			ch.Signers, ch.Threshold = l.KeyList(), l.Threshold
		}
		out = append(out, ch)
	}
	return out
}

// SignedByKeys are the key IDs among keys (canonical IDs) whose valid
// signature raw carries, counted only for keys the role's listing names.
func SignedByKeys(raw []byte, l *Listing, keys map[string]bool) ([]string, error) {
	if l == nil {
		return nil, fmt.Errorf("no parent lists this role")
	}
	var s data.Signed
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	// The message is the signed part's canonical encoding: the part itself
	// when it is one (and an object), without decoding it.
	msg := []byte(*s.Signed)
	if len(msg) == 0 || msg[0] != '{' || !canonjson.Canonical(msg) {
		var decoded map[string]any
		if err := json.Unmarshal(*s.Signed, &decoded); err != nil {
			return nil, err
		}
		var err error
		if msg, err = json.MarshalCanonical(decoded); err != nil {
			return nil, err
		}
	}
	var out []string
	for i := range s.Signatures {
		sig := s.Signatures[i]
		k, ok := l.Keys[sig.KeyID]
		if !ok {
			continue
		}
		c, err := CanonicalID(k)
		if err != nil || !keys[c] || slices.Contains(out, c) {
			continue
		}
		if signed.VerifySignature(msg, &sig, k) == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// listsAny reports whether a listing names one of keys (canonical IDs).
func listsAny(l *Listing, keys map[string]bool) bool {
	for _, k := range l.Keys {
		if c, err := CanonicalID(k); err == nil && keys[c] {
			return true
		}
	}
	return false
}

// SortedTags are a role's tag names, sorted.
func SortedTags(t *data.SignedTargets) []string {
	out := make([]string, 0, len(t.Signed.Targets))
	for name := range t.Signed.Targets {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Tag describes one tag of a role's current metadata.
func Tag(role data.RoleName, t *data.SignedTargets, name string) TagRecord {
	m := t.Signed.Targets[name]
	return TagRecord{Name: name, Digest: hex.EncodeToString(m.Hashes["sha256"]), Size: m.Length, Role: role.String(), Version: t.Signed.Version}
}
