package ceremony

import (
	"fmt"
	"sort"
	"time"

	"github.com/docker/go/canonical/json"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// previewInit shows what Init will create, once its keys are open and
// before the first key is created or anything signed.
func previewInit(s *session.Session, o InitOptions, keys *initKeys, now time.Time) error {
	if s.Env.Preview == nil {
		return nil
	}
	var rootIDs []string
	for _, k := range keys.root {
		p, err := trust.PublicKey(k.Public())
		if err != nil {
			return err
		}
		id, err := trust.CanonicalID(p)
		if err != nil {
			return err
		}
		rootIDs = append(rootIDs, id)
	}
	sort.Strings(rootIDs)
	threshold := o.RootThreshold
	if threshold == 0 {
		threshold = 1
	}
	p := &session.Preview{Command: "init"}
	for _, gun := range o.GUNs {
		r := session.RepoPreview{GUN: gun, New: true, Root: true, RootVersion: [2]int{0, 1},
			RootExpires: [2]time.Time{{}, now.Add(o.RootExpiry).UTC()}, RootThreshold: [2]int{0, threshold},
			RootKeysAdded: rootIDs, Targets: true, TargetsVersion: [2]int{0, 1},
			TargetsExpires: [2]time.Time{{}, now.Add(o.TargetsExpiry).UTC()}}
		if keys.shared != nil {
			pub, err := trust.PublicKey(keys.shared.Public())
			if err != nil {
				return err
			}
			id, err := trust.CanonicalID(pub)
			if err != nil {
				return err
			}
			r.TargetsKeysAdded = []string{id}
		} else {
			label := TargetsLabel(gun)
			if keys.batchLabel != "" {
				label = keys.batchLabel
			}
			r.NewTargetsKey = fmt.Sprintf("a new key %q on %s", label, hsm.Redact(keys.device.Info().URI))
			if keys.batchLabel != "" {
				r.NewTargetsKey += fmt.Sprintf(" (one key for the %d GUNs of this batch)", len(o.GUNs))
			}
		}
		p.Repos = append(p.Repos, r)
	}
	return s.Env.Preview(p)
}

// previewSign shows what Sign will add signatures to: each repository's
// change from the request bundle's metadata to the bundle's.
func previewSign(s *session.Session, in *bundle.Signed) error {
	if s.Env.Preview == nil {
		return nil
	}
	p := &session.Preview{Command: "sign"}
	for _, r := range in.Info.Repos {
		var oldRoot, newRoot *data.SignedRoot
		var oldTargets, newTargets *data.SignedTargets
		if err := unmarshalIf(in.Request.Metadata(r.GUN, data.CanonicalRootRole), &oldRoot); err != nil {
			return err
		}
		if err := unmarshalIf(in.RepoMetadata(r.GUN, "root"), &newRoot); err != nil {
			return err
		}
		if err := unmarshalIf(in.Request.Metadata(r.GUN, data.CanonicalTargetsRole), &oldTargets); err != nil {
			return err
		}
		if err := unmarshalIf(in.RepoMetadata(r.GUN, "targets"), &newTargets); err != nil {
			return err
		}
		rp, err := session.DiffRepo(r.GUN, oldRoot, newRoot, oldTargets, newTargets)
		if err != nil {
			return fmt.Errorf("%s: %w", r.GUN, err)
		}
		p.Repos = append(p.Repos, rp)
	}
	return s.Env.Preview(p)
}

// unmarshalIf parses metadata into *v when there is any, leaving nil
// otherwise.
func unmarshalIf[T any](b []byte, v **T) error {
	if b == nil {
		return nil
	}
	*v = new(T)
	return json.Unmarshal(b, *v)
}
