package run

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/plan"
	"github.com/keyrite/keyrite/ceremony/session"
)

// CAOut is where a CA step writes its CA bundle, in its step directory.
const CAOut = "ca"

// caStep performs a ca_init, ca_issue or ca_crl step: the operator
// confirms (what is signed cannot be unsigned), then the ceremony writes
// its CA bundle under the step's directory.
func (r *runner) caStep(ctx context.Context, env session.Env, i int, s plan.Step, dir string) (any, string, error) {
	out := filepath.Join(dir, CAOut)
	key, err := r.key(s.CAKeys()[0])
	if err != nil {
		return nil, "", err
	}
	if err := r.confirm(i, r.p.Describe(i), map[string]any{"key": key}); err != nil {
		return nil, "", err
	}
	pn := s.Notation()
	n := ceremony.CANotation{TrustStore: pn.TrustStore, Registries: pn.Registries, Identities: pn.TrustedIdentities}
	switch {
	case s.CAInit != nil:
		c := s.CAInit
		o := ceremony.CAInitOptions{Key: key, Subject: c.Subject, Validity: plan.Expiry(c.Validity, plan.DefaultCAValidity), Out: out,
			RequireAttestation: c.RequireAttestation, CANotation: n}
		var note string
		if r.o.Rehearsal && o.RequireAttestation {
			o.RequireAttestation, note = false, "attestation is not rehearsed: software tokens attest nothing"
		}
		res, err := ceremony.CAInit(ctx, env, o)
		return res, note, err
	case s.CAIssue != nil:
		c := s.CAIssue
		res, err := ceremony.CAIssue(ctx, env, ceremony.CAIssueOptions{CA: key, CACert: r.caCert(c.FromStep, c.CACert), CSR: r.p.Path(c.CSR),
			Intermediate: c.Intermediate, Validity: plan.Expiry(c.Validity, plan.DefaultLeafValidity), CRLURLs: c.CRLURLs, Out: out,
			CANotation: n})
		return res, "", err
	case s.CACRL != nil:
		c := s.CACRL
		res, err := ceremony.CACRL(ctx, env, ceremony.CACRLOptions{CA: key, CACert: r.caCert(c.FromStep, c.CACert), Revoke: c.Revoke,
			NextUpdate: plan.Expiry(c.NextUpdate, plan.DefaultCRLNextUpdate), Out: out, CANotation: n})
		return res, "", err
	}
	return nil, "", fmt.Errorf("step %d: not a CA step", i)
}

// caCert is the CA certificate a step names: an earlier step's CA bundle
// or a file beside the plan.
func (r *runner) caCert(from int, file string) string {
	if from != 0 {
		return filepath.Join(StepDir(r.o.Out, from, r.p.Steps[from-1].Kind()), CAOut)
	}
	return r.p.Path(file)
}
