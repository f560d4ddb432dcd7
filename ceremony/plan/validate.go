package plan

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/trust"
)

var plainName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Default expiries, as the commands' flags have them.
const (
	DefaultRootExpiry    = "10y"
	DefaultTargetsExpiry = "3y"
)

// validate checks what can be checked without devices; each problem names
// its path and the line of its step.
func (p *Plan) validate() []Problem {
	v := &validator{p: p}
	if p.Version != Version {
		v.fail(0, "version", "this keyrite reads plan version %d, not %d", Version, p.Version)
	}
	if !plainName.MatchString(p.Ceremony) {
		v.fail(0, "ceremony", "%q is not a plain name (letters, digits, . _ -)", p.Ceremony)
	}
	if len(p.Operators) == 0 {
		v.fail(0, "operators", "at least one operator runs the ceremony")
	}
	for i, o := range p.Operators {
		if strings.TrimSpace(o) == "" {
			v.fail(0, fmt.Sprintf("operators[%d]", i+1), "empty name")
		}
	}
	for i, w := range p.Witnesses {
		path := fmt.Sprintf("witnesses[%d]", i+1)
		if strings.TrimSpace(w.Name) == "" {
			v.fail(0, path+".name", "empty name")
		}
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(w.SSHKey)); err != nil {
			v.fail(0, path+".ssh_key", "not an SSH public key (authorized_keys line): %v", err)
		}
	}
	if p.Airgap != AirgapRequired && p.Airgap != AirgapNotRequired {
		v.fail(0, "airgap", "%q: must be %s or %s", p.Airgap, AirgapRequired, AirgapNotRequired)
	}
	v.devices()
	for _, name := range sortedKeys(p.Custodians) {
		if _, err := backup.ParseCustodian(name + "=" + p.Custodians[name]); err != nil {
			v.fail(0, "custodians."+name, "%v", err)
		}
	}
	if len(p.Steps) == 0 {
		v.fail(0, "steps", "no steps")
	}
	p.guns = make([][]string, len(p.Steps))
	for i := range p.Steps {
		v.step(i + 1)
	}
	return v.problems
}

type validator struct {
	p        *Plan
	problems []Problem
}

func (v *validator) fail(step int, path, format string, args ...any) {
	v.problems = append(v.problems, Problem{Line: v.p.StepLine(step), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) devices() {
	p := v.p
	if len(p.Devices) == 0 {
		v.fail(0, "devices", "no devices")
	}
	seen := map[string]string{}
	for _, name := range sortedKeys(p.Devices) {
		d := p.Devices[name]
		path := "devices." + name
		if !plainName.MatchString(name) {
			v.fail(0, path, "a device name is a plain name (letters, digits, . _ -)")
		}
		set := 0
		for _, b := range []bool{d.YubiKey != 0, d.Token != "", d.URI != ""} {
			if b {
				set++
			}
		}
		if set != 1 {
			v.fail(0, path, "name the device by exactly one of yubikey (serial), token (PKCS#11 token label) or uri")
			continue
		}
		if d.TokenSerial != "" && d.Token == "" {
			v.fail(0, path+".token_serial", "only with token")
		}
		uri, err := p.DeviceURI(name)
		if err != nil {
			v.fail(0, path+".uri", "%v", err)
			continue
		}
		if other, ok := seen[uri]; ok {
			v.fail(0, path, "the same device as %s", other)
		}
		seen[uri] = name
	}
}

func (v *validator) step(i int) {
	s := v.p.Steps[i-1]
	path := fmt.Sprintf("steps[%d]", i)
	if s.kinds() != 1 {
		var names []string
		for _, f := range fieldsOf(reflect.TypeOf(s)) {
			names = append(names, f.name)
		}
		v.fail(i, path, "a step is exactly one of %s", strings.Join(names, ", "))
		return
	}
	kind := s.Kind()
	path += "." + kind
	switch {
	case s.Provision != nil:
		if v.device(i, path+".device", s.Provision.Device) && !v.p.IsYubiKey(s.Provision.Device) {
			v.fail(i, path+".device", "only YubiKeys are provisioned")
		}
	case s.Generate != nil:
		v.generate(i, path, s.Generate)
	case s.Sign != nil:
		v.keys(i, path+".keys", s.Sign.Keys, true)
		v.source(i, path, s.Sign.FromStep, s.Sign.Bundle != "", "bundle", producesBundle, "a signed bundle")
		if s.Sign.Bundle != "" {
			v.exists(i, path+".bundle", s.Sign.Bundle)
		}
	case s.BackupPrint != nil:
		v.source(i, path, s.BackupPrint.FromStep, len(s.BackupPrint.Shares) > 0, "shares", producesBackup, "a backed-up key")
		for j, f := range s.BackupPrint.Shares {
			v.exists(i, fmt.Sprintf("%s.shares[%d]", path, j+1), f)
		}
	case s.Restore != nil:
		v.key(i, path+".to", s.Restore.To)
		v.source(i, path, s.Restore.FromStep, len(s.Restore.Shares) > 0, "shares", producesBackup, "a backed-up key")
		for j, f := range s.Restore.Shares {
			v.exists(i, fmt.Sprintf("%s.shares[%d]", path, j+1), f)
		}
		for j, f := range s.Restore.Identities {
			v.exists(i, fmt.Sprintf("%s.identities[%d]", path, j+1), f)
		}
	case isCA(s):
		v.ca(i, path, s)
	default:
		v.update(i, path, s)
	}
}

// source checks that a step takes its input from exactly one of an earlier
// step or files.
func (v *validator) source(i int, path string, from int, files bool, filesName string, ok func(Step) bool, what string) {
	switch {
	case from != 0 && files:
		v.fail(i, path, "give from_step or %s, not both", filesName)
	case from == 0 && !files:
		v.fail(i, path, "give from_step (an earlier step's output) or %s", filesName)
	case from != 0 && (from < 1 || from >= i):
		v.fail(i, path+".from_step", "%d is not an earlier step", from)
	case from != 0 && !ok(v.p.Steps[from-1]):
		v.fail(i, path+".from_step", "step %d (%s) does not make %s", from, v.p.Steps[from-1].Kind(), what)
	}
}

func (v *validator) exists(i int, path, name string) {
	if _, err := os.Stat(v.p.Path(name)); err != nil {
		v.fail(i, path, "%s: no such file beside the plan", name)
	}
}

func (v *validator) device(i int, path, name string) bool {
	if _, ok := v.p.Devices[name]; !ok {
		v.fail(i, path, "no device %q in the plan (devices: %s)", name, strings.Join(sortedKeys(v.p.Devices), ", "))
		return false
	}
	return true
}

func (v *validator) key(i int, path, ref string) {
	if _, err := v.p.KeyURI(ref); err != nil {
		v.fail(i, path, "%v", err)
	}
}

func (v *validator) keys(i int, path string, refs []string, required bool) {
	if required && len(refs) == 0 {
		v.fail(i, path, "no keys")
	}
	seen := map[string]bool{}
	for j, r := range refs {
		if seen[r] {
			v.fail(i, fmt.Sprintf("%s[%d]", path, j+1), "%s is given twice", r)
		}
		seen[r] = true
		v.key(i, fmt.Sprintf("%s[%d]", path, j+1), r)
	}
}

func (v *validator) generate(i int, path string, g *Generate) {
	switch g.Mode {
	case ModeOnDevice, ModeAttested, ModeBackedUp:
	default:
		v.fail(i, path+".mode", "%q: must be %s, %s or %s", g.Mode, ModeOnDevice, ModeAttested, ModeBackedUp)
	}
	if _, err := hsm.Curve(g.Algorithm); err != nil {
		v.fail(i, path+".algorithm", "%v", err)
	}
	seen := map[string]bool{}
	yubikeys := 0
	for j, d := range g.Devices {
		p := fmt.Sprintf("%s.devices[%d]", path, j+1)
		if seen[d] {
			v.fail(i, p, "%s is given twice", d)
		}
		seen[d] = true
		if v.device(i, p, d) && v.p.IsYubiKey(d) {
			yubikeys++
		}
	}
	if len(g.Devices) == 0 {
		v.fail(i, path+".devices", "no devices")
	}
	if g.Mode != ModeBackedUp && len(g.Devices) > 1 {
		v.fail(i, path+".devices", "mode %s makes a key on one device; several devices need mode backed-up", g.Mode)
	}
	if g.Mode == ModeAttested && yubikeys != len(g.Devices) {
		v.fail(i, path+".mode", "attested keys are made on a YubiKey")
	}
	if yubikeys > 0 && !isSlot(g.Slot) {
		v.fail(i, path+".slot", "a key on a YubiKey needs its PIV slot (9a, 9c, 9d, 9e or 82-95)")
	}
	if yubikeys == 0 && g.Slot != "" {
		v.fail(i, path+".slot", "only for YubiKeys")
	}
	for name, pol := range map[string]string{"pin_policy": g.PINPolicy, "touch_policy": g.TouchPolicy} {
		if pol == "" {
			continue
		}
		ok := map[string]bool{"always": true, "never": true, "once": name == "pin_policy", "cached": name == "touch_policy"}
		if !ok[pol] {
			v.fail(i, path+"."+name, "%q is not a policy", pol)
		}
		if yubikeys == 0 {
			v.fail(i, path+"."+name, "only for YubiKeys")
		}
	}
	if g.Mode != ModeBackedUp {
		if len(g.Custodians) > 0 || g.Threshold != 0 {
			v.fail(i, path+".custodians", "custodians and threshold belong to mode backed-up")
		}
		return
	}
	if len(g.Custodians) == 0 {
		v.fail(i, path+".custodians", "mode backed-up needs custodians (one share each)")
	}
	cs := map[string]bool{}
	for j, c := range g.Custodians {
		p := fmt.Sprintf("%s.custodians[%d]", path, j+1)
		if _, ok := v.p.Custodians[c]; !ok {
			v.fail(i, p, "no custodian %q in the plan's custodians", c)
		}
		if cs[c] {
			v.fail(i, p, "%s is given twice", c)
		}
		cs[c] = true
	}
	if g.Threshold < 1 || g.Threshold > len(g.Custodians) {
		v.fail(i, path+".threshold", "%d with %d custodians: it must be between 1 and %d", g.Threshold, len(g.Custodians), len(g.Custodians))
	}
}

// update checks a step that signs repositories.
func (v *validator) update(i int, path string, s Step) {
	body := reflect.ValueOf(s).FieldByName(stepField(s)).Elem()
	str := func(name string) string {
		if f := body.FieldByName(name); f.IsValid() {
			return f.String()
		}
		return ""
	}
	list := func(name string) []string {
		if f := body.FieldByName(name); f.IsValid() {
			return f.Interface().([]string)
		}
		return nil
	}
	v.guns(i, path, list("GUNs"), str("GUNsFile"))
	if body.FieldByName("RootKeys").IsValid() {
		v.keys(i, path+".root_keys", list("RootKeys"), true)
	}
	for _, f := range []struct{ field, name string }{{"TargetsKey", "targets_key"}, {"SnapshotKey", "snapshot_key"}, {"NewTargetsKey", "new_targets_key"}} {
		if r := str(f.field); r != "" {
			v.key(i, path+"."+f.name, r)
		}
	}
	for _, f := range []struct{ field, name string }{{"RootExpiry", "root_expiry"}, {"TargetsExpiry", "targets_expiry"}} {
		e := str(f.field)
		if !body.FieldByName(f.field).IsValid() || e == "" {
			continue
		}
		d, err := ParseDuration(e)
		if err != nil {
			v.fail(i, path+"."+f.name, "%v", err)
		} else if f.field == "RootExpiry" && d < ceremony.MinRootValidity {
			v.fail(i, path+"."+f.name, "%s is inside the six months in which notary clients try to re-sign root themselves; use at least %dd", e, int(ceremony.MinRootValidity.Hours()/24))
		}
	}
	switch {
	case s.Init != nil:
		if s.Init.TargetsDevice != "" {
			v.device(i, path+".targets_device", s.Init.TargetsDevice)
		}
		if s.Init.TargetsKey != "" && s.Init.TargetsDevice != "" {
			v.fail(i, path+".targets_device", "give targets_key (one key for every GUN) or targets_device (a new key per GUN), not both")
		}
		if t := s.Init.RootThreshold; t < 0 || t > len(s.Init.RootKeys) {
			v.fail(i, path+".root_threshold", "%d with %d root keys", t, len(s.Init.RootKeys))
		}
	case s.Refresh != nil:
		if s.Refresh.Targets && s.Refresh.TargetsKey == "" {
			v.fail(i, path+".targets_key", "targets: true re-signs targets: name the targets key")
		}
		if !s.Refresh.Targets && s.Refresh.TargetsExpiry != "" {
			v.fail(i, path+".targets_expiry", "only with targets: true")
		}
	case s.RotateRoot != nil:
		v.keys(i, path+".new_root_keys", s.RotateRoot.NewRootKeys, true)
		if t := s.RotateRoot.Threshold; t < 0 || t > len(s.RotateRoot.NewRootKeys) {
			v.fail(i, path+".threshold", "%d with %d new root keys", t, len(s.RotateRoot.NewRootKeys))
		}
	case s.RotateSnapshot != nil:
		switch s.RotateSnapshot.To {
		case "client":
			if s.RotateSnapshot.SnapshotKey == "" {
				v.fail(i, path+".snapshot_key", "to: client needs the new snapshot key")
			}
		case "server":
		default:
			v.fail(i, path+".to", "%q: must be client or server", s.RotateSnapshot.To)
		}
	case s.SignerAdd != nil:
		if _, err := trust.SignerRole(s.SignerAdd.Signer); err != nil {
			v.fail(i, path+".signer", "%v", err)
		}
		for j, f := range s.SignerAdd.KeyFiles {
			v.exists(i, fmt.Sprintf("%s.key_files[%d]", path, j+1), f)
		}
		if t := s.SignerAdd.Threshold; t < 0 || t > len(s.SignerAdd.KeyFiles) {
			v.fail(i, path+".threshold", "%d with %d signer keys", t, len(s.SignerAdd.KeyFiles))
		}
	case s.SignerRemove != nil:
		if _, err := trust.SignerRole(s.SignerRemove.Signer); err != nil {
			v.fail(i, path+".signer", "%v", err)
		}
	}
}

// stepField is the Go field name of the step's action.
func stepField(s Step) string {
	v := reflect.ValueOf(s)
	for i := 0; i < v.NumField(); i++ {
		if !v.Field(i).IsNil() {
			return v.Type().Field(i).Name
		}
	}
	return ""
}

// guns reads a step's repositories, inline and from its file.
func (v *validator) guns(i int, path string, inline []string, file string) {
	all := append([]string{}, inline...)
	if file != "" {
		b, err := os.ReadFile(v.p.Path(file))
		if err != nil {
			v.fail(i, path+".guns_file", "%s: %v", file, err)
		} else if len(b) > maxPlanSize {
			v.fail(i, path+".guns_file", "%s is larger than %d bytes", file, maxPlanSize)
		} else {
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				line := strings.TrimSpace(sc.Text())
				if line != "" && !strings.HasPrefix(line, "#") {
					all = append(all, line)
				}
			}
		}
	}
	if len(all) == 0 {
		v.fail(i, path+".guns", "no GUNs (give guns or guns_file)")
	}
	seen := map[string]bool{}
	for _, g := range all {
		if err := trust.ValidateGUN(g); err != nil {
			v.fail(i, path+".guns", "%v", err)
			continue
		}
		if seen[g] {
			v.fail(i, path+".guns", "%s is given twice", g)
		}
		seen[g] = true
	}
	v.p.guns[i-1] = all
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
