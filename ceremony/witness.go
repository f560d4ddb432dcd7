package ceremony

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/internal/sshsig"
)

// WitnessOptions control Witness.
type WitnessOptions struct {
	Bundle string // a signed bundle or a key record
	Out    string // the new bundle or record, with the witness's signature
	Name   string // the witness, as allowed signers name them
	// Signature is an SSH signature of transcript.head the witness made
	// on their own machine (ssh-keygen -Y sign -n keyrite-transcript);
	// or Key is the URI of the witness's device key (PKCS#11, YubiKey)
	// that signs it here.
	Signature []byte
	Key       string
	// Allowed, if given, must allow the witness's key for Name.
	Allowed sshsig.AllowedSigners
}

// WitnessResult is what Witness reports.
type WitnessResult struct {
	Out     string                `json:"out"`
	Witness *verify.WitnessReport `json:"witness"`
}

// Witness adds a witness's signature over a bundle's (or record's)
// transcript head, verified first, to a new copy of it: bundles are never
// modified in place. The bundle is verified before, and the copy after.
func Witness(ctx context.Context, env session.Env, o WitnessOptions) (*WitnessResult, error) {
	if err := bundle.CheckWitnessName(o.Name); err != nil {
		return nil, err
	}
	if (o.Signature == nil) == (o.Key == "") {
		return nil, errors.New("give the witness's signature or the URI of their key, one of the two")
	}
	if err := fsutil.RefuseExisting(o.Out, "bundle"); err != nil {
		return nil, err
	}
	aopts := verify.AuditOptions{Options: env.VerifyOptions()}
	a, err := verify.AuditDir(o.Bundle, env.Now(), aopts)
	var inc *verify.IncompleteError
	if err != nil && !errors.As(err, &inc) {
		return nil, err
	}
	files, err := bundle.Read(o.Bundle, a.Kind)
	if err != nil {
		return nil, err
	}
	sig := o.Signature
	if o.Key != "" {
		s := session.New(env, "transcript witness")
		defer s.Close()
		k, err := s.Key(ctx, o.Key)
		if err != nil {
			return nil, err
		}
		if sig, err = sshsig.Sign(k, rand.Reader, bundle.WitnessNamespace, files[bundle.HeadName]); err != nil {
			return nil, session.WrapDevice(o.Key, err)
		}
	}
	w, err := verify.CheckNewWitness(o.Bundle, files, o.Name, sig)
	if err != nil {
		return nil, err
	}
	if o.Allowed != nil {
		ws := []verify.WitnessReport{*w}
		if err := verify.CheckAllowed(o.Bundle, ws, o.Allowed, env.Now()); err != nil {
			return nil, err
		}
		w = &ws[0]
	}
	files[bundle.WitnessFile(o.Name)] = sig
	if err := bundle.Write(o.Out, a.Kind, files); err != nil {
		return nil, err
	}
	if _, err := verify.AuditDir(o.Out, env.Now(), aopts); err != nil && !errors.As(err, &inc) {
		os.RemoveAll(o.Out)
		return nil, fmt.Errorf("the bundle just written does not verify (removed): %w", err)
	}
	return &WitnessResult{Out: o.Out, Witness: w}, nil
}
