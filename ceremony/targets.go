package ceremony

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
)

// Where init puts the targets (repository) keys it creates.
//
// notary and docker use a repository's targets key to sign targets.json:
// to add or remove signers (docker trust signer add/remove rewrite the
// delegations) and to renew targets before it expires. keyrite keeps it
// offline, next to the root key, and leaves day-to-day signing to
// delegation keys. A key per GUN keeps repositories apart only where the
// keys live apart: on one device, whoever holds the device and its PIN
// holds every slot, and the root key there signs every GUN's root (and
// can replace any targets key). A YubiKey has 20 retired slots, so per-GUN
// keys stop at about 20 repositories. Hence the default:
const (
	// PlacementAuto: one targets key for the whole batch when the
	// targets keys would go to the root key's device and that device has
	// a few fixed slots (a YubiKey); one key per GUN otherwise (a PKCS#11
	// token, a softkey file, or --targets-device).
	PlacementAuto = ""
	// PlacementPerGUN: a new key per GUN, labelled targets:GUN.
	PlacementPerGUN = "per-gun"
	// PlacementBatch: one new key for the batch, labelled
	// targets-batch:HASH (the SHA-256 of the sorted GUNs, so a rerun of
	// the same batch after a crash finds it), signing every GUN's targets.
	PlacementBatch = "batch"
)

// DefaultTargetsTouchPolicy is the YubiKey touch policy of the targets
// keys init creates: a batch signs with them once per GUN in a row, so a
// touch is asked once per 15-second window instead of once per GUN.
const DefaultTargetsTouchPolicy = "cached"

// BatchTargetsLabel is the label of the one targets key a batch init
// creates for its GUNs.
func BatchTargetsLabel(guns []string) string {
	s := append([]string(nil), guns...)
	sort.Strings(s)
	sum := sha256.Sum256([]byte(strings.Join(s, "\n")))
	return "targets-batch:" + hex.EncodeToString(sum[:6])
}

// planTargets decides where this init's targets keys go and checks, before
// any key is created and without a PIN, that the device holds them.
func planTargets(ctx context.Context, s *session.Session, keys *initKeys, o InitOptions) error {
	keys.want = map[string]string{}
	if keys.device == nil {
		keys.placement = "existing key"
		return nil
	}
	placement := o.TargetsPlacement
	var info hsm.CapacityInfo
	c, hasCap := keys.device.(hsm.Capacity)
	if hasCap {
		var err error
		if info, err = c.Capacity(ctx); err != nil {
			return session.WrapDevice(keys.device.Info().URI, err)
		}
	}
	if placement == PlacementAuto {
		placement = PlacementPerGUN
		if o.TargetsDevice == "" && info.Slots {
			placement = PlacementBatch
		}
	}
	keys.placement = placement
	need := session.KeyNeed{Device: keys.device, Kind: session.NeedTargetsPerGUN,
		For: fmt.Sprintf("per-GUN targets keys of %d GUN(s)", len(o.GUNs))}
	if placement == PlacementBatch {
		keys.batchLabel = BatchTargetsLabel(o.GUNs)
		keys.want[keys.batchLabel] = fmt.Sprintf("the batch of %d GUN(s)", len(o.GUNs))
		need.Kind, need.For = session.NeedTargetsBatch, fmt.Sprintf("one targets key for a batch of %d GUN(s)", len(o.GUNs))
	} else {
		for _, gun := range o.GUNs {
			keys.want[TargetsLabel(gun)] = gun
		}
	}
	need.Keys = len(keys.want)
	if hasCap && info.Known() {
		// Keys an interrupted run left under these labels are reused or
		// refused, never made again: they need no new slot.
		held, err := keys.device.List(ctx)
		if err != nil && !errors.Is(err, hsm.ErrNotFound) {
			return session.WrapDevice(keys.device.Info().URI, err)
		}
		for _, k := range held {
			if _, ok := keys.want[k.Label]; ok {
				need.Keys--
			}
		}
	}
	return s.CheckCapacity(ctx, need)
}

// targetsSpec is the key spec of a new targets key.
func targetsSpec(label string, o InitOptions) hsm.KeySpec {
	touch := o.TargetsTouchPolicy
	if touch == "" {
		touch = DefaultTargetsTouchPolicy
	}
	return hsm.KeySpec{Label: label, TouchPolicy: touch}
}
