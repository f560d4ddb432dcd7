package plan

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/internal/sshsig"
)

func parse(t *testing.T, text string) (*Plan, error) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return Read(file)
}

func TestExampleParses(t *testing.T) {
	p, err := parse(t, Example)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 3 || p.Steps[0].Kind() != "generate" || p.Steps[1].Kind() != "init" || p.Steps[2].Kind() != "backup_print" {
		t.Fatalf("steps: %+v", p.Steps)
	}
	if got := p.GUNs(2); len(got) != 2 {
		t.Errorf("GUNs(2) = %v", got)
	}
	if p.SHA256 != bundle.SHA256Hex([]byte(Example)) {
		t.Errorf("SHA256 = %s", p.SHA256)
	}
	if uri, _ := p.KeyURI("hsm-a/root-2026"); uri != "pkcs11:token=hsm-a;object=root-2026" {
		t.Errorf("KeyURI = %s", uri)
	}
	s := p.Summary()
	for _, want := range []string{"ceremony root-2026", "air gap:    required", "1. generate P-256 key \"root-2026\" (backed-up) on hsm-a, hsm-b; backup to 3 custodians (alice, bob, carol), any 2 restore it [irreversible",
		"2. init 2 repositories", "plan SHA-256: " + p.SHA256} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	// The shipped example is the same file.
	b, err := os.ReadFile("../../examples/ceremony.yaml")
	if err != nil || string(b) != Example {
		t.Errorf("examples/ceremony.yaml differs from plan.Example (%v)", err)
	}
}

const base = `version: 1
ceremony: t
operators: [op]
airgap: not-required
devices:
  a: {token: a}
  y: {yubikey: 7000001}
`

func TestStrictProblems(t *testing.T) {
	for _, tc := range []struct {
		name, steps string
		want        []string
	}{
		{"unknown field", "steps:\n  - init:\n      guns: [example.com/a]\n      root_keys: [a/root]\n      root_expiri: 10y\n",
			[]string{"line 12: steps[1].init.root_expiri: unknown field (known here: guns, guns_file, root_keys"}},
		{"wrong type", "steps:\n  - init:\n      guns: example.com/a\n      root_keys: [a/root]\n      root_threshold: two\n",
			[]string{"line 10: steps[1].init.guns: expected a list, got \"example.com/a\"", "line 12: steps[1].init.root_threshold: expected a whole number, got \"two\""}},
		{"missing", "steps:\n  - init:\n      guns: [example.com/a]\n", []string{"line 10: steps[1].init.root_keys: missing (required)"}},
		{"empty value", "steps:\n  - init:\n      guns: [example.com/a]\n      root_keys:\n", []string{"line 11: steps[1].init.root_keys: no value given"}},
		{"bad expiry", "steps:\n  - init:\n      guns: [example.com/a]\n      root_keys: [a/root]\n      root_expiry: 90d\n",
			[]string{"line 9: steps[1].init.root_expiry: 90d is inside the six months"}},
		{"two actions", "steps:\n  - init: {guns: [example.com/a], root_keys: [a/root]}\n    refresh: {guns: [example.com/a], root_keys: [a/root]}\n",
			[]string{"steps[1]: a step is exactly one of provision, generate, init"}},
		{"unknown device", "steps:\n  - init: {guns: [example.com/a], root_keys: [b/root]}\n", []string{"steps[1].init.root_keys[1]: no device \"b\" in the plan"}},
		{"yubikey slot", "steps:\n  - init: {guns: [example.com/a], root_keys: [y/root]}\n", []string{"a YubiKey's key is named by its PIV slot"}},
		{"from_step later", "steps:\n  - sign: {from_step: 2, keys: [a/root]}\n  - init: {guns: [example.com/a], root_keys: [a/root]}\n",
			[]string{"steps[1].sign.from_step: 2 is not an earlier step"}},
		{"from_step kind", "steps:\n  - init: {guns: [example.com/a], root_keys: [a/root]}\n  - backup_print: {from_step: 1}\n",
			[]string{"steps[2].backup_print.from_step: step 1 (init) does not make a backed-up key"}},
		{"threshold", "custodians: {c1: age1tksat4wpargl3074c7jyqxzwmfywlk4vm2lwakseuuswc08wl5qqmtaljh}\nsteps:\n  - generate: {mode: backed-up, label: r, devices: [a], custodians: [c1, c2], threshold: 3}\n",
			[]string{"steps[1].generate.custodians[2]: no custodian \"c2\"", "steps[1].generate.threshold: 3 with 2 custodians"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, base+tc.steps)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a plan error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestSecretsRefused(t *testing.T) {
	for name, text := range map[string]string{
		"pin field":      base + "steps:\n  - provision: {device: y}\n    pin: 123456\n",
		"nested pin":     base + "steps:\n  - init: {guns: [example.com/a], root_keys: [a/root], user_pin: 1234}\n",
		"passphrase":     base + "custodians:\n  passphrase: hunter2hunter2\nsteps: []\n",
		"uri pin":        strings.Replace(base, "{token: a}", "{uri: 'pkcs11:token=a;pin-value=1234'}", 1) + "steps: []\n",
		"age identity":   base + "notes: AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\nsteps: []\n",
		"puk":            base + "puk: '12345678'\nsteps: []\n",
		"management key": base + "management_key: 010203040506070801020304050607080102030405060708\nsteps: []\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parse(t, text)
			var se *SecretError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a secret error", err)
			}
			// The plan's path is a random temporary directory, which may
			// hold "1234" by chance: look for the secret in the rest.
			msg := strings.ReplaceAll(err.Error(), se.File, "PLAN")
			if msg == err.Error() {
				t.Fatalf("the error does not name the plan: %v", err)
			}
			for _, secret := range []string{"123456", "1234", "hunter2", "AGE-SECRET", "12345678", "0102030405"} {
				if strings.Contains(msg, secret) {
					t.Errorf("the error repeats the secret: %v", err)
				}
			}
		})
	}
	// pin_policy is a policy, and the word passphrase a kind of custodian.
	if _, err := parse(t, base+"custodians: {dave: passphrase}\nsteps:\n  - generate: {mode: on-device, label: r, devices: [y], slot: 9c, pin_policy: once}\n"); err != nil {
		t.Fatal(err)
	}
}

func TestGUNsFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "guns.txt"), []byte("# ours\nexample.com/b\n\nexample.com/c\n"), 0o644)
	file := filepath.Join(dir, "plan.yaml")
	os.WriteFile(file, []byte(base+"steps:\n  - init: {guns: [example.com/a], guns_file: guns.txt, root_keys: [a/root]}\n"), 0o644)
	p, err := Read(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.GUNs(1), " "); got != "example.com/a example.com/b example.com/c" {
		t.Errorf("GUNs = %s", got)
	}
}

// The plan's witnesses become the allowed signers every step's transcript
// declares: ssh-keygen's format, which keyrite's own parser reads back.
func TestWitnessesAsAllowedSigners(t *testing.T) {
	p := &Plan{Witnesses: []Witness{{Name: "dana", SSHKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE dana@example.com"}}}
	got := string(p.AllowedSigners())
	if got != "dana namespaces=\"keyrite-transcript\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE dana@example.com\n" {
		t.Fatalf("allowed signers:\n%s", got)
	}
	if _, err := sshsig.ParseAllowedSigners([]byte(got)); err != nil {
		t.Fatal(err)
	}
}
