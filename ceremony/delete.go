package ceremony

import (
	"context"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
)

// DeleteOptions control DeleteKey.
type DeleteOptions struct {
	URI string // the key
	// Force deletes a key a pinned root names (Env.KeyInUse).
	Force bool
}

// DeleteResult is what DeleteKey reports.
type DeleteResult struct {
	Deleted session.KeyDescription `json:"deleted"`
	Device  hsm.DeviceInfo         `json:"device"`
	// PinnedIn is where a pinned root names the key, when Force deleted it
	// anyway.
	PinnedIn string `json:"pinned_in,omitempty"`
}

// KeyIDPrefix is how much of a key's canonical ID the operator types to
// confirm its deletion.
const KeyIDPrefix = 12

// KeyInUseError is a key a pinned root names: deleting it would take a
// root key away from a repository clients trust.
type KeyInUseError struct {
	KeyID, URI, Where string
}

func (e *KeyInUseError) Error() string {
	return fmt.Sprintf("key %s (%s) is named in %s: deleting it would take a root key away from a repository clients pin; nothing was deleted", e.KeyID, e.URI, e.Where)
}

// DeleteKey destroys a key on its device (a PKCS#11 token's objects, a
// YubiKey slot's key) after the operator typed the first KeyIDPrefix
// characters of its canonical key ID (or all of it). A key a pinned root
// names is refused unless forced.
func DeleteKey(ctx context.Context, env session.Env, o DeleteOptions) (*DeleteResult, error) {
	s := session.New(env, "key delete")
	defer s.Close()
	b, err := s.Backend(ctx, o.URI)
	if err != nil {
		return nil, session.WrapDevice(o.URI, err)
	}
	k, err := b.Open(ctx, o.URI)
	if err != nil {
		return nil, session.WrapDevice(o.URI, err)
	}
	info := b.Info()
	label, origin := "", ""
	if keys, err := b.List(ctx); err == nil {
		for _, ki := range keys {
			if ki.URI == k.URI() {
				label, origin = ki.Label, ki.Origin
			}
		}
	}
	desc, err := session.DescribeKey(k.URI(), k.Public(), label, origin, info.Software)
	if err != nil {
		return nil, err
	}
	res := &DeleteResult{Deleted: *desc, Device: info}
	if env.KeyInUse != nil {
		if where, used := env.KeyInUse(desc.CanonicalID); used {
			if !o.Force {
				return nil, &KeyInUseError{KeyID: desc.CanonicalID, URI: desc.URI, Where: where}
			}
			res.PinnedIn = where
		}
	}
	id := desc.CanonicalID
	c := session.Confirmation{
		Action: fmt.Sprintf("delete destroys key %s (label %q) on %s for good: %s", id, label, deviceName(info), desc.URI),
		Prompt: fmt.Sprintf("Type the first %d characters of the key ID to delete it: ", KeyIDPrefix),
		What:   "key ID", Want: id[:KeyIDPrefix]}
	// The whole ID confirms it too.
	ask := env
	if inner := env.Confirm; inner != nil {
		ask.Confirm = func(c session.Confirmation) (string, error) {
			got, err := inner(c)
			if strings.TrimSpace(got) == id {
				return id[:KeyIDPrefix], err
			}
			return got, err
		}
	}
	if err := ask.ConfirmTyped(c); err != nil {
		return nil, err
	}
	if err := b.Delete(ctx, k.URI()); err != nil {
		return nil, session.WrapDevice(k.URI(), err)
	}
	return res, nil
}

func deviceName(info hsm.DeviceInfo) string {
	if info.Serial != "" {
		return fmt.Sprintf("%s %q (serial %s)", info.Kind, info.Label, info.Serial)
	}
	return fmt.Sprintf("%s %q", info.Kind, info.Label)
}
