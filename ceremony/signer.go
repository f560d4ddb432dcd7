package ceremony

import (
	"context"
	"fmt"
	"time"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// SignerOptions control AddSigner and RemoveSigner.
type SignerOptions struct {
	session.UpdateOptions
	Name      string
	KeyFiles  []string // PEM public keys or certificates (add)
	Threshold int      // of targets/NAME (add)
	Force     bool     // remove the last key of targets/releases (remove)
}

// MaxSignerKeySize bounds a --key file of signer add: a PEM public key
// or certificate is a few kilobytes.
const MaxSignerKeySize = 64 << 10

// AddSigner adds a docker signer: targets/NAME and targets/releases with the
// signer's keys, in targets.json signed by the targets key.
func AddSigner(ctx context.Context, env session.Env, o SignerOptions) (*session.UpdateResult, error) {
	var keys []data.PublicKey
	for _, f := range o.KeyFiles {
		b, err := fsutil.ReadRegular(f, MaxSignerKeySize)
		if err != nil {
			return nil, fmt.Errorf("signer key: %w", err)
		}
		k, err := trust.ParseSignerKey(b)
		if err != nil {
			return nil, fmt.Errorf("signer key %s: %w", f, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, &session.MissingInputError{What: "signer key"}
	}
	if _, err := trust.SignerRole(o.Name); err != nil {
		return nil, err
	}
	return runSignerChange(ctx, env, "signer-add", o, func(t *data.SignedTargets) (map[string]any, error) {
		var ids []string
		for _, k := range keys {
			ids = append(ids, k.ID())
		}
		return map[string]any{"signer": o.Name, "key_ids": ids, "threshold": o.Threshold}, trust.AddSigner(t, o.Name, keys, o.Threshold)
	})
}

// RemoveSigner removes a docker signer and its keys from targets/releases.
func RemoveSigner(ctx context.Context, env session.Env, o SignerOptions) (*session.UpdateResult, error) {
	if _, err := trust.SignerRole(o.Name); err != nil {
		return nil, err
	}
	return runSignerChange(ctx, env, "signer-remove", o, func(t *data.SignedTargets) (map[string]any, error) {
		return map[string]any{"signer": o.Name, "forced": o.Force}, trust.RemoveSigner(t, o.Name, o.Force)
	})
}

func runSignerChange(ctx context.Context, env session.Env, command string, o SignerOptions, edit func(*data.SignedTargets) (map[string]any, error)) (*session.UpdateResult, error) {
	check := func(b *session.Batch, cur *trust.Current) error {
		return b.NeedRole(cur, data.CanonicalTargetsRole, false)
	}
	mutate := func(ctx context.Context, b *session.Batch, cur *trust.Current) (*session.Change, error) {
		t, err := cur.NextTargets(time.Time{})
		if err != nil {
			return nil, err
		}
		ev, err := edit(t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cur.GUN, err)
		}
		signers, _, _ := trust.RoleKeys(cur.Root, data.CanonicalTargetsRole)
		return &session.Change{Targets: t, TargetsSigners: signers, Event: ev}, nil
	}
	return session.RunUpdate(ctx, env, command, session.Update{UpdateOptions: o.UpdateOptions, Check: check, Mutate: mutate})
}
