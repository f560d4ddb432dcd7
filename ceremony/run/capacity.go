package run

import (
	"context"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/ceremony/plan"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
)

// CheckCapacity adds up what the plan's steps create on each device —
// generated and imported keys (in their slots where the plan names one),
// init's targets keys (one for the batch on a YubiKey root's device, else
// one per GUN), restored keys — and asks every device that can say
// whether it holds them, before the first step: a plan that does not fit
// stops with nothing done. It reads only (no PIN). A device the plan
// resets is left out: its keys are erased first.
func CheckCapacity(ctx context.Context, env session.Env, p *plan.Plan) error {
	s := session.New(env, "ceremony capacity")
	defer s.Close()
	reset := map[string]bool{}
	for _, st := range p.Steps {
		if st.Provision != nil && st.Provision.Reset {
			reset[st.Provision.Device] = true
		}
	}
	var needs []session.KeyNeed
	add := func(dev, uri, kind, what string, slot string) error {
		if reset[dev] {
			return nil
		}
		b, err := s.Backend(ctx, uri)
		if err != nil {
			return session.WrapDevice(uri, err)
		}
		n := session.KeyNeed{Device: b, Kind: kind, For: what, Keys: 1}
		if slot != "" {
			n.Keys, n.Slots = 0, []string{slot}
		}
		needs = append(needs, n)
		return nil
	}
	for i, st := range p.Steps {
		step := i + 1
		var err error
		switch {
		case st.Generate != nil:
			for _, d := range st.Generate.Devices {
				uri, derr := p.DeviceURI(d)
				if derr != nil {
					return derr
				}
				if err = add(d, uri, session.NeedKey, fmt.Sprintf("step %d: key %s", step, st.Generate.Label), st.Generate.Slot); err != nil {
					return err
				}
			}
		case st.Init != nil && st.Init.TargetsKey == "":
			err = addInitTargets(ctx, s, p, step, st.Init, reset, &needs)
		case st.Restore != nil:
			uri, kerr := p.KeyURI(st.Restore.To)
			if kerr != nil {
				return kerr
			}
			dev, _, _ := strings.Cut(st.Restore.To, "/")
			err = add(dev, uri, session.NeedImport, fmt.Sprintf("step %d: restored key %s", step, st.Restore.To), session.URISlot(uri))
		}
		if err != nil {
			return err
		}
	}
	return s.CheckCapacity(ctx, needs...)
}

// addInitTargets adds an init step's new targets keys: as init places them
// (ceremony.planTargets), one for the batch on a root key's device with
// slots, else one per GUN.
func addInitTargets(ctx context.Context, s *session.Session, p *plan.Plan, step int, in *plan.Init, reset map[string]bool, needs *[]session.KeyNeed) error {
	dev, uri := in.TargetsDevice, ""
	var err error
	if dev != "" {
		uri, err = p.DeviceURI(dev)
	} else if len(in.RootKeys) > 0 {
		dev, _, _ = strings.Cut(in.RootKeys[0], "/")
		uri, err = p.KeyURI(in.RootKeys[0])
	}
	if err != nil || uri == "" || reset[dev] {
		return err
	}
	b, err := s.Backend(ctx, uri)
	if err != nil {
		return session.WrapDevice(uri, err)
	}
	guns := len(p.GUNs(step))
	n := session.KeyNeed{Device: b, Keys: guns, Kind: session.NeedTargetsPerGUN,
		For: fmt.Sprintf("step %d: per-GUN targets keys of %d GUN(s)", step, guns)}
	if c, ok := b.(hsm.Capacity); ok && in.TargetsDevice == "" {
		if info, err := c.Capacity(ctx); err == nil && info.Slots {
			n.Keys, n.Kind, n.For = 1, session.NeedTargetsBatch, fmt.Sprintf("step %d: one targets key for %d GUN(s)", step, guns)
		}
	}
	*needs = append(*needs, n)
	return nil
}
