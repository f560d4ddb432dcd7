// Package plan is the ceremony plan: a YAML file, written and reviewed
// before the ceremony, that names the ceremony, its operators and
// witnesses, whether an air gap is required, the devices (by YubiKey
// serial, PKCS#11 token label or URI: never a PIN or passphrase) and the
// ordered steps. It is parsed strictly (unknown fields, wrong types and
// missing values are refused with line numbers and dotted paths), checked
// for secrets, validated, summarised, and identified by its SHA-256, which
// every step's transcript records. The runner is ceremony/run.
package plan

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/keyrite/keyrite/bundle"
)

// Version is the plan format this keyrite reads.
const Version = 1

// Air gap settings.
const (
	AirgapRequired    = "required"
	AirgapNotRequired = "not-required"
)

// Plan is a parsed ceremony plan.
type Plan struct {
	Version    int               `yaml:"version,required"`
	Ceremony   string            `yaml:"ceremony,required"`
	Operators  []string          `yaml:"operators,required"`
	Witnesses  []Witness         `yaml:"witnesses"`
	Airgap     string            `yaml:"airgap,required"`
	Devices    map[string]Device `yaml:"devices,required"`
	Custodians map[string]string `yaml:"custodians"` // name: age recipient, SSH public key, plugin or the word passphrase
	Steps      []Step            `yaml:"steps,required"`

	// File is where the plan was read from, Dir its directory (files a
	// plan names are relative to it), SHA256 the hex digest of its bytes.
	File   string `yaml:"-"`
	Dir    string `yaml:"-"`
	SHA256 string `yaml:"-"`
	// lines are the line numbers of the steps, for validation messages;
	// guns are each step's repositories (inline and from its file).
	lines []int
	guns  [][]string
}

// Witness is someone who watches the ceremony and signs its transcript
// with their SSH key.
type Witness struct {
	Name   string `yaml:"name,required" json:"name"`
	SSHKey string `yaml:"ssh_key,required" json:"ssh_key"`
}

// Device names one device: exactly one of YubiKey (its serial), Token (a
// PKCS#11 token label, optionally with its serial) or URI.
type Device struct {
	YubiKey     uint32 `yaml:"yubikey"`
	Token       string `yaml:"token"`
	TokenSerial string `yaml:"token_serial"`
	URI         string `yaml:"uri"`
}

// Step is one action: exactly one of its fields is set.
type Step struct {
	Provision      *Provision      `yaml:"provision"`
	Generate       *Generate       `yaml:"generate"`
	Init           *Init           `yaml:"init"`
	Refresh        *Refresh        `yaml:"refresh"`
	RotateRoot     *RotateRoot     `yaml:"rotate_root"`
	RotateTargets  *RotateTargets  `yaml:"rotate_targets"`
	RotateSnapshot *RotateSnapshot `yaml:"rotate_snapshot"`
	SignerAdd      *SignerAdd      `yaml:"signer_add"`
	SignerRemove   *SignerRemove   `yaml:"signer_remove"`
	Sign           *Sign           `yaml:"sign"`
	BackupPrint    *BackupPrint    `yaml:"backup_print"`
	Restore        *Restore        `yaml:"restore"`
	CAInit         *CAInit         `yaml:"ca_init"`
	CAIssue        *CAIssue        `yaml:"ca_issue"`
	CACRL          *CACRL          `yaml:"ca_crl"`
}

// Kind names the step's action (its YAML key), "" when none is set.
func (s Step) Kind() string {
	v := reflect.ValueOf(s)
	for _, f := range fieldsOf(v.Type()) {
		if !v.Field(f.index).IsNil() {
			return f.name
		}
	}
	return ""
}

// kinds counts the actions set.
func (s Step) kinds() int {
	n := 0
	v := reflect.ValueOf(s)
	for _, f := range fieldsOf(v.Type()) {
		if !v.Field(f.index).IsNil() {
			n++
		}
	}
	return n
}

// Provision takes a YubiKey out of its factory state (new PIN, PUK and
// management key, asked at the ceremony); Reset erases it first.
type Provision struct {
	Device string `yaml:"device,required"`
	Reset  bool   `yaml:"reset"`
}

// Generation modes.
const (
	ModeOnDevice = "on-device"
	ModeAttested = "attested"
	ModeBackedUp = "backed-up"
)

// Generate makes a key: on one device, attested on a YubiKey, or backed up
// (in memory, split among custodians, imported into every device).
type Generate struct {
	Mode        string   `yaml:"mode,required"`
	Label       string   `yaml:"label,required"`
	Devices     []string `yaml:"devices,required"`
	Slot        string   `yaml:"slot"` // YubiKeys: the PIV slot (9a, 9c, 9d, 9e, 82-95)
	Algorithm   string   `yaml:"algorithm"`
	Custodians  []string `yaml:"custodians"`
	Threshold   int      `yaml:"threshold"`
	PINPolicy   string   `yaml:"pin_policy"`
	TouchPolicy string   `yaml:"touch_policy"`
}

// Steps that change repositories name them inline (guns), one a line in a
// file beside the plan (guns_file, # comments allowed), or both.

// Init creates new repositories.
type Init struct {
	GUNs               []string `yaml:"guns"`
	GUNsFile           string   `yaml:"guns_file"`
	RootKeys           []string `yaml:"root_keys,required"`
	RootThreshold      int      `yaml:"root_threshold"`
	TargetsKey         string   `yaml:"targets_key"`
	TargetsDevice      string   `yaml:"targets_device"`
	RootExpiry         string   `yaml:"root_expiry"`
	TargetsExpiry      string   `yaml:"targets_expiry"`
	RequireAttestation bool     `yaml:"require_attestation"`
}

// Refresh re-signs root (and targets) with a new version and expiry.
type Refresh struct {
	GUNs          []string `yaml:"guns"`
	GUNsFile      string   `yaml:"guns_file"`
	RootKeys      []string `yaml:"root_keys,required"`
	RootExpiry    string   `yaml:"root_expiry"`
	Targets       bool     `yaml:"targets"`
	TargetsKey    string   `yaml:"targets_key"`
	TargetsExpiry string   `yaml:"targets_expiry"`
	SnapshotKey   string   `yaml:"snapshot_key"`
}

// RotateRoot replaces the root keys.
type RotateRoot struct {
	GUNs        []string `yaml:"guns"`
	GUNsFile    string   `yaml:"guns_file"`
	RootKeys    []string `yaml:"root_keys,required"`
	NewRootKeys []string `yaml:"new_root_keys,required"`
	Threshold   int      `yaml:"threshold"`
	RootExpiry  string   `yaml:"root_expiry"`
	SnapshotKey string   `yaml:"snapshot_key"`
}

// RotateTargets recovers a lost or compromised repository key.
type RotateTargets struct {
	GUNs          []string `yaml:"guns"`
	GUNsFile      string   `yaml:"guns_file"`
	RootKeys      []string `yaml:"root_keys,required"`
	NewTargetsKey string   `yaml:"new_targets_key,required"`
	SnapshotKey   string   `yaml:"snapshot_key"`
}

// RotateSnapshot moves the snapshot key between the server and a client
// key.
type RotateSnapshot struct {
	GUNs        []string `yaml:"guns"`
	GUNsFile    string   `yaml:"guns_file"`
	RootKeys    []string `yaml:"root_keys,required"`
	To          string   `yaml:"to,required"` // client or server
	SnapshotKey string   `yaml:"snapshot_key"`
}

// SignerAdd adds a docker signer (targets/NAME and targets/releases).
type SignerAdd struct {
	GUNs        []string `yaml:"guns"`
	GUNsFile    string   `yaml:"guns_file"`
	TargetsKey  string   `yaml:"targets_key,required"`
	Signer      string   `yaml:"signer,required"`
	KeyFiles    []string `yaml:"key_files,required"`
	Threshold   int      `yaml:"threshold"`
	SnapshotKey string   `yaml:"snapshot_key"`
}

// SignerRemove removes a docker signer.
type SignerRemove struct {
	GUNs        []string `yaml:"guns"`
	GUNsFile    string   `yaml:"guns_file"`
	TargetsKey  string   `yaml:"targets_key,required"`
	Signer      string   `yaml:"signer,required"`
	Force       bool     `yaml:"force"`
	SnapshotKey string   `yaml:"snapshot_key"`
}

// Sign adds this ceremony's signatures to a signed bundle: an earlier
// step's output (from_step) or a bundle beside the plan.
type Sign struct {
	FromStep int      `yaml:"from_step"`
	Bundle   string   `yaml:"bundle"`
	Keys     []string `yaml:"keys,required"`
}

// BackupPrint prints share sheets: every share of an earlier backed-up
// generation (from_step), or share files beside the plan.
type BackupPrint struct {
	FromStep int      `yaml:"from_step"`
	Shares   []string `yaml:"shares"`
}

// Restore puts a backed-up key onto a device from its custodians' shares
// (share files and the identity files that open them, beside the plan; or
// an earlier step's backup, whose custodians then present their
// identities).
type Restore struct {
	To         string   `yaml:"to,required"` // key reference DEVICE/LABEL
	FromStep   int      `yaml:"from_step"`
	Shares     []string `yaml:"shares"`
	Identities []string `yaml:"identities"`
}

// Read reads and parses a plan file (see Parse).
func Read(file string) (*Plan, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Parse(file, b)
}

// Parse parses a plan strictly and validates what can be checked without
// devices: a plan that holds a secret is a *SecretError, any other problem
// an *Error listing every problem found.
func Parse(file string, b []byte) (*Plan, error) {
	if len(b) > maxPlanSize {
		return nil, &Error{File: file, Problems: []Problem{{Msg: fmt.Sprintf("the plan is larger than %d bytes", maxPlanSize)}}}
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil {
		return nil, &Error{File: file, Problems: []Problem{{Msg: "not YAML: " + err.Error()}}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{File: file, Problems: []Problem{{Line: extra.Line, Msg: "a plan is one YAML document"}}}
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		return nil, &Error{File: file, Problems: []Problem{{Msg: "empty plan"}}}
	}
	if secrets := findSecrets(root.Content[0], ""); len(secrets) > 0 {
		return nil, &SecretError{File: file, Problems: secrets}
	}
	p := &Plan{File: file, Dir: filepath.Dir(file), SHA256: bundle.SHA256Hex(b)}
	d := &decoder{}
	d.decode(root.Content[0], "", reflectValue(p))
	if steps := stepsNode(root.Content[0]); steps != nil {
		for _, s := range steps.Content {
			p.lines = append(p.lines, s.Line)
		}
	}
	if len(d.problems) > 0 {
		return nil, &Error{File: file, Problems: d.problems}
	}
	if probs := p.validate(); len(probs) > 0 {
		return nil, &Error{File: file, Problems: probs}
	}
	return p, nil
}

// maxPlanSize bounds what is read as a plan.
const maxPlanSize = 1 << 20

func reflectValue(p *Plan) reflect.Value { return reflect.ValueOf(p).Elem() }

func stepsNode(n *yaml.Node) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "steps" && n.Content[i+1].Kind == yaml.SequenceNode {
			return n.Content[i+1]
		}
	}
	return nil
}

// StepLine is the line of step i (from 1) in the plan file, 0 if unknown.
func (p *Plan) StepLine(i int) int {
	if i < 1 || i > len(p.lines) {
		return 0
	}
	return p.lines[i-1]
}

// AllowedSigners is the plan's witnesses as an allowed signers file
// (ssh-keygen's format, namespace keyrite-transcript), which every step's
// transcript records so that a witness's signature is checked against the
// key the reviewed plan names.
func (p *Plan) AllowedSigners() []byte {
	var b strings.Builder
	for _, w := range p.Witnesses {
		fmt.Fprintf(&b, "%s namespaces=\"keyrite-transcript\" %s\n", w.Name, strings.TrimSpace(w.SSHKey))
	}
	return []byte(b.String())
}
