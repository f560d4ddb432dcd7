package plan

import (
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/backup"
)

// Describe says in one line what step i (from 1) does.
func (p *Plan) Describe(i int) string {
	s := p.Steps[i-1]
	guns := p.GUNs(i)
	repos := fmt.Sprintf("%d repositories (%s)", len(guns), abbreviate(guns, 3))
	if len(guns) == 1 {
		repos = "1 repository (" + guns[0] + ")"
	}
	switch {
	case s.Provision != nil:
		if s.Provision.Reset {
			return fmt.Sprintf("provision YubiKey %s: ERASE it, then new PIN, PUK and management key", s.Provision.Device)
		}
		return fmt.Sprintf("provision YubiKey %s: new PIN, PUK and management key", s.Provision.Device)
	case s.Generate != nil:
		g := s.Generate
		alg := g.Algorithm
		if alg == "" {
			alg = "P-256"
		}
		d := fmt.Sprintf("generate %s key %q (%s) on %s", alg, g.Label, g.Mode, strings.Join(g.Devices, ", "))
		if g.Slot != "" {
			d += " slot " + g.Slot
		}
		if g.Mode == ModeBackedUp {
			d += fmt.Sprintf("; backup to %d custodians (%s), any %d restore it", len(g.Custodians), strings.Join(g.Custodians, ", "), g.Threshold)
		}
		return d
	case s.Init != nil:
		t := s.Init.RootThreshold
		if t == 0 {
			t = 1
		}
		return fmt.Sprintf("init %s: root keys %s (threshold %d), root expiry %s, targets expiry %s",
			repos, strings.Join(s.Init.RootKeys, ", "), t, orDefault(s.Init.RootExpiry, DefaultRootExpiry), orDefault(s.Init.TargetsExpiry, DefaultTargetsExpiry))
	case s.Refresh != nil:
		d := fmt.Sprintf("refresh %s with %s: root expiry %s", repos, strings.Join(s.Refresh.RootKeys, ", "), orDefault(s.Refresh.RootExpiry, DefaultRootExpiry))
		if s.Refresh.Targets {
			d += ", targets too (expiry " + orDefault(s.Refresh.TargetsExpiry, DefaultTargetsExpiry) + ")"
		}
		return d
	case s.RotateRoot != nil:
		t := s.RotateRoot.Threshold
		if t == 0 {
			t = 1
		}
		return fmt.Sprintf("rotate root of %s: from %s to %s, threshold %d of %d, root expiry %s", repos, strings.Join(s.RotateRoot.RootKeys, ", "),
			strings.Join(s.RotateRoot.NewRootKeys, ", "), t, len(s.RotateRoot.NewRootKeys), orDefault(s.RotateRoot.RootExpiry, DefaultRootExpiry))
	case s.RotateTargets != nil:
		return fmt.Sprintf("rotate targets of %s to %s, root signed by %s", repos, s.RotateTargets.NewTargetsKey, strings.Join(s.RotateTargets.RootKeys, ", "))
	case s.RotateSnapshot != nil:
		return fmt.Sprintf("rotate snapshot of %s to the %s, root signed by %s", repos, s.RotateSnapshot.To, strings.Join(s.RotateSnapshot.RootKeys, ", "))
	case s.SignerAdd != nil:
		return fmt.Sprintf("add signer %s (%d keys) to %s with %s", s.SignerAdd.Signer, len(s.SignerAdd.KeyFiles), repos, s.SignerAdd.TargetsKey)
	case s.SignerRemove != nil:
		return fmt.Sprintf("remove signer %s from %s with %s", s.SignerRemove.Signer, repos, s.SignerRemove.TargetsKey)
	case s.Sign != nil:
		from := s.Sign.Bundle
		if s.Sign.FromStep != 0 {
			from = fmt.Sprintf("the bundle of step %d", s.Sign.FromStep)
		}
		return fmt.Sprintf("sign %s with %s", from, strings.Join(s.Sign.Keys, ", "))
	case s.BackupPrint != nil:
		if s.BackupPrint.FromStep != 0 {
			return fmt.Sprintf("print the share sheets of step %d", s.BackupPrint.FromStep)
		}
		return fmt.Sprintf("print %d share sheets", len(s.BackupPrint.Shares))
	case s.Restore != nil:
		from := fmt.Sprintf("%d share files", len(s.Restore.Shares))
		if s.Restore.FromStep != 0 {
			from = fmt.Sprintf("the backup of step %d", s.Restore.FromStep)
		}
		return fmt.Sprintf("restore a backed-up key onto %s from %s", s.Restore.To, from)
	case isCA(s):
		return describeCA(s)
	}
	return s.Kind()
}

// Irreversible says whether step i cannot be undone once done: it makes
// or destroys keys, or signs over root.
func (p *Plan) Irreversible(i int) bool {
	s := p.Steps[i-1]
	return s.Provision != nil || s.Generate != nil || s.Restore != nil || s.Init != nil || s.Refresh != nil ||
		s.RotateRoot != nil || s.RotateTargets != nil || s.RotateSnapshot != nil || s.Sign != nil || isCA(s)
}

// Summary is the plan as it is read aloud: what, who, where, each step,
// and the plan's SHA-256 in hex and PGP words.
func (p *Plan) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ceremony %s (plan %s)\n", p.Ceremony, p.File)
	fmt.Fprintf(&b, "  operators:  %s\n", strings.Join(p.Operators, ", "))
	if len(p.Witnesses) == 0 {
		fmt.Fprintf(&b, "  witnesses:  none\n")
	}
	for _, w := range p.Witnesses {
		fmt.Fprintf(&b, "  witness:    %s (%s)\n", w.Name, sshKeyType(w.SSHKey))
	}
	fmt.Fprintf(&b, "  air gap:    %s\n", p.Airgap)
	for _, name := range sortedKeys(p.Devices) {
		uri, _ := p.DeviceURI(name)
		fmt.Fprintf(&b, "  device:     %s = %s\n", name, uri)
	}
	for _, name := range sortedKeys(p.Custodians) {
		fmt.Fprintf(&b, "  custodian:  %s (%s)\n", name, custodianKind(name, p.Custodians[name]))
	}
	fmt.Fprintf(&b, "steps:\n")
	for i := range p.Steps {
		mark := ""
		if p.Irreversible(i + 1) {
			mark = " [irreversible: typed confirmation]"
		}
		fmt.Fprintf(&b, "  %2d. %s%s\n", i+1, p.Describe(i+1), mark)
	}
	fmt.Fprintf(&b, "plan SHA-256: %s\n", p.SHA256)
	lines, _ := backup.WordLines(p.SHA256, 8)
	for _, l := range lines {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	return b.String()
}

// Words is the plan's SHA-256 in PGP words.
func (p *Plan) Words() string {
	w, _ := backup.Words(p.SHA256)
	return w
}

func sshKeyType(k string) string {
	f := strings.Fields(k)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

func custodianKind(name, recipient string) string {
	c, err := backup.ParseCustodian(name + "=" + recipient)
	if err != nil {
		return "?"
	}
	return c.Kind
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func abbreviate(list []string, n int) string {
	if len(list) <= n {
		return strings.Join(list, ", ")
	}
	return strings.Join(list[:n], ", ") + fmt.Sprintf(", and %d more", len(list)-n)
}
