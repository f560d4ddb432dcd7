package ceremony

import (
	"context"
	"crypto"
	"errors"
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
	// Overwritten: the device cannot delete keys (a YubiKey before
	// firmware 5.7), so the key was overwritten with a throwaway key that
	// still occupies the slot (key list shows it as free).
	Overwritten bool `json:"overwritten,omitempty"`
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
	info := b.Info()
	keys, _ := b.List(ctx) // labels only: a key the device opens is deleted without one
	uri, pub, label, origin, err := keyToDelete(ctx, b, o.URI, keys)
	if err != nil {
		return nil, session.WrapDevice(o.URI, err)
	}
	desc, err := session.DescribeKey(uri, pub, label, origin, info.Software)
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
	if err := b.Delete(ctx, uri); err != nil {
		return nil, session.WrapDevice(uri, err)
	}
	// A device that cannot delete keys overwrote it: the slot still
	// shows a (throwaway) key.
	if after, err := b.List(ctx); err == nil {
		for _, ki := range after {
			if ki.URI == uri && ki.Free {
				res.Overwritten = true
			}
		}
	}
	return res, nil
}

// keyToDelete finds the key a URI names: a key the device opens, or a
// YubiKey slot keyrite freed earlier by overwriting its key (which Open
// does not return, but which can now be deleted for real).
func keyToDelete(ctx context.Context, b hsm.Backend, uri string, keys []hsm.KeyInfo) (string, crypto.PublicKey, string, string, error) {
	k, err := b.Open(ctx, uri)
	if errors.Is(err, hsm.ErrNotFound) {
		for _, ki := range keys {
			if ki.Free && sameURI(ki.URI, uri) {
				return ki.URI, ki.Public, ki.Label, ki.Origin, nil
			}
		}
	}
	if err != nil {
		return "", nil, "", "", err
	}
	label, origin := "", ""
	for _, ki := range keys {
		if ki.URI == k.URI() {
			label, origin = ki.Label, ki.Origin
		}
	}
	return k.URI(), k.Public(), label, origin, nil
}

func sameURI(a, b string) bool {
	ua, err1 := hsm.ParseURI(a)
	ub, err2 := hsm.ParseURI(b)
	return err1 == nil && err2 == nil && ua.String() == ub.String()
}

func deviceName(info hsm.DeviceInfo) string {
	if info.Serial != "" {
		return fmt.Sprintf("%s %q (serial %s)", info.Kind, info.Label, info.Serial)
	}
	return fmt.Sprintf("%s %q", info.Kind, info.Label)
}
