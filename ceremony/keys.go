package ceremony

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/fsutil"
)

// GenerateOptions control GenerateKey.
type GenerateOptions struct {
	Device    string // device URI
	Label     string
	Algorithm string
	// Mode is ModeAttested or empty (generated on the device, not
	// attested).
	Mode        string
	PINPolicy   string // YubiKey slot policies: always (default), once, never
	TouchPolicy string // always (default), cached, never
	// Record is the directory to create for the key's record: the
	// generation's transcript sealed by the new key (see writeKeyRecord).
	// Empty: no record (the command line always gives one).
	Record string
}

// ModeAttested generates the key on a device that attests it; the
// attestation is verified before the key is reported.
const ModeAttested = "attested"

// GenerateKey creates a key on a device. The device refuses an existing
// label; the key's first signature is verified before it is reported.
func GenerateKey(ctx context.Context, env session.Env, o GenerateOptions) (*session.KeyDescription, error) {
	if o.Record != "" {
		if err := fsutil.RefuseExisting(o.Record, "record"); err != nil {
			return nil, err
		}
	}
	s := session.New(env, "key generate")
	defer s.Close()
	b, err := s.Backend(ctx, o.Device)
	if err != nil {
		return nil, err
	}
	if _, attests := b.(hsm.Attester); o.Mode == ModeAttested && !attests {
		return nil, fmt.Errorf("attested mode needs a device that attests the keys it generates (a YubiKey); %s does not", hsm.Redact(o.Device))
	}
	u, err := hsm.ParseURI(o.Device)
	if err != nil {
		return nil, err
	}
	k, err := generateJournalled(ctx, s, b, o, hsm.KeySpec{Label: o.Label, Algorithm: o.Algorithm, Slot: u.Get("slot"),
		PINPolicy: o.PINPolicy, TouchPolicy: o.TouchPolicy})
	if err != nil {
		return nil, err
	}
	origin := hsm.OriginGenerated
	if b.Info().Software {
		origin = hsm.OriginSoftware
	}
	desc, err := session.DescribeKey(k.URI(), k.Public(), o.Label, origin, b.Info().Software)
	if err != nil {
		return nil, err
	}
	var attRec *verify.AttestationRecord
	if o.Mode == ModeAttested {
		rec, err := attestKey(k, b.Info(), env.Registry, s.Software())
		if err == nil && rec == nil {
			err = errors.New("the device gave no attestation")
		}
		if err != nil {
			// The operator asked for an attested key: one that cannot be
			// attested is destroyed rather than left in the slot.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
			defer cancel()
			if derr := b.Delete(dctx, k.URI()); derr != nil {
				return nil, &AttestationRefusedError{URI: k.URI(), Err: err, DestroyErr: derr}
			}
			s.Destroyed(b, o.Label)
			return nil, &AttestationRefusedError{URI: k.URI(), Err: err}
		}
		a := rec.Attested
		attRec = rec
		desc.Mode = ModeAttested
		desc.Attestation = &verify.AttestationReport{KeyID: rec.KeyID, Serial: a.Serial, Firmware: a.Firmware, Slot: a.Slot,
			PINPolicy: a.PINPolicy, TouchPolicy: a.TouchPolicy, Root: a.Root, Rehearsal: a.Rehearsal}
	}
	if o.Record != "" {
		if err := writeKeyRecord(ctx, s, b, k, desc, attRec, o); err != nil {
			return nil, &KeyRecordError{KeyID: desc.CanonicalID, URI: k.URI(), Record: o.Record, Err: err}
		}
		desc.Record = o.Record
	}
	s.Keep() // the key is the operator's now
	return desc, nil
}

// AttestationRefusedError is a key generated in attested mode whose
// attestation was refused: the key was destroyed (unless DestroyErr).
type AttestationRefusedError struct {
	URI        string
	Err        error
	DestroyErr error
}

func (e *AttestationRefusedError) Error() string {
	if e.DestroyErr != nil {
		return fmt.Sprintf("the key %s was generated but its attestation is refused: %v (and it could not be destroyed: %v)", e.URI, e.Err, e.DestroyErr)
	}
	return fmt.Sprintf("the key %s was generated but its attestation is refused, so it was destroyed: %v", e.URI, e.Err)
}

func (e *AttestationRefusedError) Unwrap() error { return e.Err }

// generateJournalled makes the key, announced in the journal first, or
// reopens the one an interrupted key generate left under the same label
// when resuming.
func generateJournalled(ctx context.Context, s *session.Session, b hsm.Backend, o GenerateOptions, spec hsm.KeySpec) (hsm.Key, error) {
	reuse, err := s.Leftovers(ctx, []hsm.Backend{b}, func(l session.Leftover) bool {
		return l.Label == o.Label && l.Command == s.Command()
	})
	if err != nil {
		return nil, err
	}
	if l, ok := reuse[o.Label]; ok {
		return b.Open(ctx, l.URI)
	}
	if err := s.CheckCapacity(ctx, session.OneKeyEach(session.NeedKey, "the key "+o.Label, []hsm.Backend{b}, []string{o.Device})...); err != nil {
		return nil, err
	}
	// A label the device holds is refused by the device itself, with its
	// own words; it is never announced, so no later run takes that key for
	// one this run made.
	held, err := session.HoldsLabel(ctx, b, o.Label)
	if err != nil {
		return nil, err
	}
	if !held {
		if err := s.Creating(b, o.Label, "", "key generate"); err != nil {
			return nil, err
		}
	}
	k, err := b.Generate(ctx, spec)
	if err != nil {
		s.NotCreated(ctx, b, o.Label)
		return nil, err
	}
	return k, s.Created(b, o.Label, k)
}

// ListKeys lists the keys on a device.
func ListKeys(ctx context.Context, env session.Env, device string) ([]session.KeyDescription, *hsm.DeviceInfo, error) {
	s := session.New(env, "key list")
	defer s.Close()
	b, err := s.Backend(ctx, device)
	if err != nil {
		return nil, nil, err
	}
	infos, err := b.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	dev := b.Info()
	var out []session.KeyDescription
	for _, ki := range infos {
		desc, err := session.DescribeKey(ki.URI, ki.Public, ki.Label, ki.Origin, dev.Software)
		if err != nil {
			return nil, nil, err
		}
		desc.Free = ki.Free
		out = append(out, *desc)
	}
	return out, &dev, nil
}
