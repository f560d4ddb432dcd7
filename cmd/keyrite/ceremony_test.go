package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm/yubikey"
	"github.com/keyrite/keyrite/internal/pivsim"
	"github.com/keyrite/keyrite/internal/testenv"
)

// runAnswering runs a keyrite command line in-process, answering every
// typed confirmation with answer and recording what was asked.
func runAnswering(t *testing.T, answer string, asked *[]session.Confirmation, args ...string) (string, string, int) {
	t.Helper()
	var o, e bytes.Buffer
	a := &App{Stdout: &o, Stderr: &e, Now: time.Now, TrustDir: testTrustDir(t),
		Answer: func(c session.Confirmation) (string, error) {
			*asked = append(*asked, c)
			return answer, nil
		}}
	code := a.Run(context.Background(), args)
	return o.String(), e.String(), code
}

// runResult is keyrite ceremony run --json, each step's result kept raw.
type runResult struct {
	PlanSHA256 string `json:"plan_sha256"`
	Steps      []struct {
		Step    int               `json:"step"`
		Kind    string            `json:"kind"`
		Dir     string            `json:"dir"`
		Status  string            `json:"status"`
		Outputs map[string]string `json:"outputs"`
		Result  json.RawMessage   `json:"result"`
	} `json:"steps"`
}

// TestCeremonyFromPlans is a whole ceremony from plans on two SoftHSM
// tokens against a live notary-server: the first plan makes a backed-up
// root key (three custodians, any two restore it, imported into both
// tokens), inits five repositories and prints the share sheets; publish is
// the test's online step; the second plan makes two more keys and rotates
// root to any 2 of the 3. The notary CLI, holding the first root, and
// docker see the result.
func TestCeremonyFromPlans(t *testing.T) {
	ha := testenv.NewSoftHSM(t, "hsm-a")
	hb := ha.AddToken("hsm-b")
	// Both tokens get the same PIN; --pin-file names each token with it.
	cmd := exec.Command("pkcs11-tool", "--module", ha.Module, "--token-label", "hsm-b", "--login", "--pin", hb.PIN,
		"--change-pin", "--new-pin", ha.PIN)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pkcs11-tool --change-pin: %v\n%s", err, out)
	}
	srv := testenv.StartNotaryServer(t)
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	with := func(args ...string) []string {
		return append(args, "--pin-file", "pkcs11:token=hsm-a="+ha.PINFile, "--pin-file", "pkcs11:token=hsm-b="+ha.PINFile, "--module", ha.Module)
	}

	var custodians []string
	for _, name := range []string{"alice", "bob", "carol"} {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, p(name+".key"), id.String()+"\n")
		custodians = append(custodians, fmt.Sprintf("  %s: %s", name, id.Recipient()))
	}
	var guns []string
	for i := 1; i <= 5; i++ {
		guns = append(guns, fmt.Sprintf("registry.example.com/plan/app%d", i))
	}
	gunFile := "# the five repositories\n" + strings.Join(guns, "\n") + "\n"
	writeFile(t, p("guns.txt"), gunFile)
	head := `version: 1
ceremony: %s
operators: [alice]
witnesses:
  - name: dana
    ssh_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICmkrnKYSzOjrd9sdPv3eFAi1hcMyGNjx22m/L100ZtH dana@example.com
airgap: not-required
devices:
  hsm-a: {token: hsm-a}
  hsm-b: {token: hsm-b}
`
	writeFile(t, p("plan1.yaml"), fmt.Sprintf(head, "root-2026")+"custodians:\n"+strings.Join(custodians, "\n")+`
steps:
  - generate: {mode: backed-up, label: root-2026, devices: [hsm-a, hsm-b], custodians: [alice, bob, carol], threshold: 2}
  - init: {guns_file: guns.txt, root_keys: [hsm-a/root-2026]}
  - backup_print: {from_step: 1}
`)
	// Plan 2 has two witnesses, with SSH keys of their own.
	var witnessLines []string
	for _, w := range []string{"erin", "frank"} {
		runTool(t, "", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", w, "-f", p(w+"-ssh"))
		pub, err := os.ReadFile(p(w + "-ssh.pub"))
		if err != nil {
			t.Fatal(err)
		}
		witnessLines = append(witnessLines, fmt.Sprintf("  - name: %s\n    ssh_key: %s", w, strings.TrimSpace(string(pub))))
	}
	head2 := strings.Replace(fmt.Sprintf(head, "root-2027"), "witnesses:\n  - name: dana\n    ssh_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICmkrnKYSzOjrd9sdPv3eFAi1hcMyGNjx22m/L100ZtH dana@example.com\n",
		"witnesses:\n"+strings.Join(witnessLines, "\n")+"\n", 1)
	writeFile(t, p("plan2.yaml"), head2+`steps:
  - generate: {mode: on-device, label: root-2027-a, devices: [hsm-a]}
  - generate: {mode: on-device, label: root-2027-b, devices: [hsm-b]}
  - rotate_root:
      guns_file: guns.txt
      root_keys: [hsm-b/root-2026]
      new_root_keys: [hsm-a/root-2026, hsm-a/root-2027-a, hsm-b/root-2027-b]
      threshold: 2
`)

	// Plan 1, offline.
	mustKeyrite(t, append([]string{"fetch", "--server", srv.URL, "--tls-ca", srv.CAFile, "-o", p("request1")}, guns...)...)
	out := mustKeyrite(t, with("ceremony", "check", p("plan1.yaml"), "--in", p("request1"))...)
	for _, want := range []string{"device hsm-a: attached", "device hsm-b: attached", "carries every repository"} {
		if !strings.Contains(out, want) {
			t.Fatalf("check: no %q in\n%s", want, out)
		}
	}
	var asked []session.Confirmation
	stdout, stderr, code := runAnswering(t, "yes", &asked, with("ceremony", "run", p("plan1.yaml"), "--in", p("request1"), "-o", p("out1"), "--json")...)
	if code != 0 {
		t.Fatalf("run plan1: exit %d\n%s", code, stderr)
	}
	var r1 runResult
	if err := json.Unmarshal([]byte(stdout), &r1); err != nil {
		t.Fatal(err)
	}
	if len(r1.Steps) != 3 || len(asked) != 2 || asked[0].Want != "yes" {
		t.Fatalf("run plan1: %d steps, %d confirmations (%+v)", len(r1.Steps), len(asked), asked)
	}
	var gen ceremony.BackedUpResult
	var init ceremony.InitResult
	if err := json.Unmarshal(r1.Steps[0].Result, &gen); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(r1.Steps[1].Result, &init); err != nil {
		t.Fatal(err)
	}
	if len(gen.Imported) != 2 || gen.Threshold != 2 || len(gen.Shares) != 3 || len(init.Repos) != 5 {
		t.Fatalf("plan1 results: generate %+v, init %+v", gen, init)
	}
	for _, r := range init.Repos {
		if r.RootCanonicalIDs[0] != gen.CanonicalID {
			t.Errorf("%s: root key %v, want the backed-up key %s", r.GUN, r.RootCanonicalIDs, gen.CanonicalID)
		}
	}
	for _, name := range []string{"alice.pdf", "bob.pdf", "carol.pdf"} {
		if _, ok := r1.Steps[2].Outputs[name]; !ok {
			t.Errorf("no share sheet %s: %v", name, r1.Steps[2].Outputs)
		}
	}
	signed1 := filepath.Join(p("out1"), r1.Steps[1].Dir, "signed")
	checkPlanStep(t, signed1, r1.PlanSHA256, 2)

	// Online: the test publishes; notary and docker see the repositories.
	mustKeyrite(t, "publish", "--server", srv.URL, "--tls-ca", srv.CAFile, signed1)
	notaryTrust, dockerCfg := p("notary-trust"), p("docker")
	for _, r := range init.Repos {
		if _, stderr, err := srv.NotaryCLI(notaryTrust, "list", r.GUN); err != nil {
			t.Fatalf("notary list %s: %v\n%s", r.GUN, err, stderr)
		}
		pretty, err := srv.DockerTrustInspect(dockerCfg, r.GUN, true)
		if err != nil {
			t.Fatalf("docker trust inspect %s: %v\n%s", r.GUN, err, pretty)
		}
		if got, _ := testenv.ParseDockerRootKey(pretty); got != r.RootKeyIDs[0] {
			t.Errorf("%s: docker shows root key %s, keyrite made %s", r.GUN, got, r.RootKeyIDs[0])
		}
	}

	// Plan 2, offline: rotate root to any 2 of 3 keys.
	mustKeyrite(t, append([]string{"fetch", "--server", srv.URL, "--tls-ca", srv.CAFile, "-o", p("request2")}, guns...)...)
	asked = nil
	stdout, stderr, code = runAnswering(t, "yes", &asked, with("ceremony", "run", p("plan2.yaml"), "--in", p("request2"), "-o", p("out2"), "--json")...)
	if code != 0 {
		t.Fatalf("run plan2: exit %d\n%s", code, stderr)
	}
	var r2 runResult
	if err := json.Unmarshal([]byte(stdout), &r2); err != nil {
		t.Fatal(err)
	}
	var rot session.UpdateResult
	if err := json.Unmarshal(r2.Steps[2].Result, &rot); err != nil {
		t.Fatal(err)
	}
	if len(rot.Repos) != 5 || !rot.Complete || len(asked) != 3 {
		t.Fatalf("rotation: %+v, %d confirmations", rot, len(asked))
	}
	// The preview (shown before the rotation was confirmed) names the
	// threshold and the keys added and kept, in words.
	if !strings.Contains(asked[2].Action, "sign rotate-root for 5 repositories") {
		t.Errorf("confirmation: %+v", asked[2])
	}
	signed2 := filepath.Join(p("out2"), r2.Steps[2].Dir, "signed")
	checkPlanStep(t, signed2, r2.PlanSHA256, 3)
	// The two witnesses sign the sealed transcript's head on their own
	// laptops (ssh-keygen); each signature is added to a new bundle, checked
	// against the key the reviewed plan names, and ssh-keygen itself
	// accepts it with the plan's witnesses as allowed signers.
	witnessed := signed2
	var allowed strings.Builder
	for i, w := range []string{"erin", "frank"} {
		head := p(w + "-transcript.head")
		copyFile(t, filepath.Join(signed2, "transcript.head"), head)
		runTool(t, "", "ssh-keygen", "-Y", "sign", "-n", "keyrite-transcript", "-f", p(w+"-ssh"), head)
		pub, _ := os.ReadFile(p(w + "-ssh.pub"))
		fmt.Fprintf(&allowed, "%s %s", w, pub)
		next := p(fmt.Sprintf("witnessed-%d", i+1))
		mustKeyrite(t, "transcript", "witness", witnessed, "--name", w, "--signature", head+".sig", "-o", next)
		witnessed = next
	}
	writeFile(t, p("allowed_signers"), allowed.String())
	headBytes, err := os.ReadFile(filepath.Join(signed2, "transcript.head"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"erin", "frank"} {
		runTool(t, string(headBytes), "ssh-keygen", "-Y", "verify", "-f", p("allowed_signers"), "-I", w, "-n", "keyrite-transcript",
			"-s", filepath.Join(witnessed, "witnesses", w+".sig"))
	}
	out = mustKeyrite(t, "transcript", "verify", witnessed, "--plan", p("plan2.yaml"))
	for _, w := range []string{"erin", "frank"} {
		if !strings.Contains(out, w) {
			t.Errorf("transcript verify does not name witness %s:\n%s", w, out)
		}
	}
	mustKeyrite(t, "publish", "--server", srv.URL, "--tls-ca", srv.CAFile, witnessed)

	for _, r := range rot.Repos {
		// The notary CLI that trusted root v1 walks to v2.
		if _, stderr, err := srv.NotaryCLI(notaryTrust, "list", r.GUN); err != nil {
			t.Fatalf("notary list %s after the rotation: %v\n%s", r.GUN, err, stderr)
		}
		var cached struct {
			Signed struct {
				Version int `json:"version"`
				Roles   map[string]struct {
					KeyIDs    []string `json:"keyids"`
					Threshold int      `json:"threshold"`
				} `json:"roles"`
			} `json:"signed"`
		}
		b, err := os.ReadFile(filepath.Join(notaryTrust, "tuf", r.GUN, "metadata", "root.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &cached); err != nil {
			t.Fatal(err)
		}
		root := cached.Signed.Roles["root"]
		if cached.Signed.Version != 2 || root.Threshold != 2 || len(root.KeyIDs) != 3 {
			t.Errorf("%s: the notary CLI holds root v%d, threshold %d of %d keys; want v2, 2 of 3", r.GUN, cached.Signed.Version, root.Threshold, len(root.KeyIDs))
		}
		pretty, err := srv.DockerTrustInspect(dockerCfg, r.GUN, true)
		if err != nil {
			t.Fatalf("docker trust inspect %s: %v\n%s", r.GUN, err, pretty)
		}
		got, _ := testenv.ParseDockerRootKey(pretty)
		shown := strings.Split(got, ", ")
		slices.Sort(shown)
		if want := slices.Sorted(slices.Values(r.RootKeyIDs)); !slices.Equal(shown, want) {
			t.Errorf("%s: docker shows root keys %v, want %v", r.GUN, shown, want)
		}
	}
}

// transcriptOf reads a bundle directory's transcript, its chain checked.
func transcriptOf(t *testing.T, dir string) []bundle.TranscriptEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, bundle.TranscriptName))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := bundle.VerifyTranscript(b)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// checkPlanStep checks that a signed bundle's transcript names the plan
// and the step it was made by.
func checkPlanStep(t *testing.T, signed, planSHA string, step int) {
	t.Helper()
	entries := transcriptOf(t, signed)
	var start struct {
		PlanSHA256 string `json:"plan_sha256"`
		PlanStep   int    `json:"plan_step"`
		Rehearsal  bool   `json:"rehearsal"`
	}
	if err := json.Unmarshal(entries[0].Data, &start); err != nil {
		t.Fatal(err)
	}
	if entries[0].Event != "ceremony.start" || start.PlanSHA256 != planSHA || start.PlanStep != step {
		t.Errorf("%s: ceremony.start names plan %s step %d, want %s step %d", signed, start.PlanSHA256, start.PlanStep, planSHA, step)
	}
}

// TestCeremonyFromPlanYubiKey runs a plan on a factory-fresh virtual
// YubiKey behind the real pcscd: provision it, generate an attested root
// key in slot 9c, init a repository that requires the attestation; the
// test publishes, and docker sees the key.
func TestCeremonyFromPlanYubiKey(t *testing.T) {
	e := newYKEnv(t, 1)
	srv := testenv.StartNotaryServer(t)
	const serial = 10000042
	card := e.pcsc.VirtualYubiKey(t, 0, serial, e.ca, pivsim.Config{})
	gun := "registry.example.com/ykplan/app"
	planFile := filepath.Join(e.dir, "plan.yaml")
	writeFile(t, planFile, fmt.Sprintf(`version: 1
ceremony: yubikey-root
operators: [alice]
airgap: not-required
devices:
  yk: {yubikey: %d}
steps:
  - provision: {device: yk}
  - generate: {mode: attested, label: root-yk, devices: [yk], slot: 9c}
  - init: {guns: [%s], root_keys: [yk/9c], require_attestation: true}
`, serial, gun))
	req, out := filepath.Join(e.dir, "request"), filepath.Join(e.dir, "out")
	e.must("fetch", "--server", srv.URL, "--tls-ca", srv.CAFile, "-o", req, gun)
	stdout, stderr, asked, code := e.runAnswered("yes", "ceremony", "run", planFile, "--in", req, "-o", out,
		"--pin-file", e.pinFile, "--puk-file", e.pukFile, "--json")
	if code != 0 {
		t.Fatalf("ceremony run: exit %d\n%s", code, stderr)
	}
	var res runResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 3 || len(asked) != 3 {
		t.Fatalf("%d steps, %d confirmations", len(res.Steps), len(asked))
	}
	var key session.KeyDescription
	if err := json.Unmarshal(res.Steps[1].Result, &key); err != nil {
		t.Fatal(err)
	}
	if key.Attestation == nil || key.Attestation.Serial != serial || key.Attestation.Slot != "9c" {
		t.Fatalf("generated %+v", key)
	}
	signed := filepath.Join(out, res.Steps[2].Dir, "signed")
	if _, err := os.Stat(filepath.Join(signed, "attestations", key.CanonicalID+".json")); err != nil {
		t.Fatalf("no attestation in the bundle: %v", err)
	}
	checkPlanStep(t, signed, res.PlanSHA256, 3)
	if card.Signatures() == 0 {
		t.Error("the card made no signature")
	}
	e.must("publish", "--server", srv.URL, "--tls-ca", srv.CAFile, signed)
	var init ceremony.InitResult
	if err := json.Unmarshal(res.Steps[2].Result, &init); err != nil {
		t.Fatal(err)
	}
	pretty, err := srv.DockerTrustInspect(filepath.Join(e.dir, "docker"), gun, true)
	if err != nil {
		t.Fatalf("docker trust inspect: %v\n%s", err, pretty)
	}
	if got, _ := testenv.ParseDockerRootKey(pretty); got != init.Repos[0].RootKeyIDs[0] || init.Repos[0].RootCanonicalIDs[0] != key.CanonicalID {
		t.Errorf("docker shows root key %s, keyrite made %s", got, init.Repos[0].RootKeyIDs[0])
	}

	// A plan that erases the YubiKey: its keys are shown with their words,
	// and only the first two words of each key ID, typed, destroy them.
	resetPlan := filepath.Join(e.dir, "reset.yaml")
	writeFile(t, resetPlan, fmt.Sprintf("version: 1\nceremony: reset\noperators: [alice]\nairgap: not-required\ndevices:\n  yk: {yubikey: %d}\nsteps:\n  - provision: {device: yk, reset: true}\n", serial))
	words, _ := backup.Words(key.CanonicalID)
	// The device holds the root key and the targets key init made.
	var listed struct {
		Keys []session.KeyDescription `json:"keys"`
	}
	out, _ = e.must("key", "list", "--device", yubikey.DeviceURI(serial), "--pin-file", e.pinFile, "--json")
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed.Keys) != 2 {
		t.Fatalf("key list: %v\n%s", err, out)
	}
	var typed []string
	for _, k := range listed.Keys {
		kw, _ := backup.Words(k.CanonicalID)
		typed = append(typed, strings.Fields(kw)[:2]...)
	}
	runReset := func(out string, answer func(session.Confirmation) string) (int, string) {
		var o, errb bytes.Buffer
		a := &App{Stdout: &o, Stderr: &errb, Now: time.Now, attestRoots: e.ca.Pool(), TrustDir: testTrustDir(t),
			Answer: func(c session.Confirmation) (string, error) { return answer(c), nil }}
		code := a.Run(context.Background(), []string{"ceremony", "run", resetPlan, "-o", out, "--pin-file", e.pinFile, "--puk-file", e.pukFile})
		return code, errb.String()
	}
	code, errOut := runReset(filepath.Join(e.dir, "reset1"), func(session.Confirmation) string { return "yes" })
	if code != exitFailed || !strings.Contains(errOut, "words: "+words) || !strings.Contains(errOut, "does not match: not confirmed, nothing was done") {
		t.Fatalf("reset answered yes: exit %d\n%s", code, errOut)
	}
	if out, _ := e.must("key", "list", "--device", yubikey.DeviceURI(serial), "--pin-file", e.pinFile); !strings.Contains(out, key.CanonicalID) {
		t.Fatalf("a refused reset lost the key:\n%s", out)
	}
	code, errOut = runReset(filepath.Join(e.dir, "reset2"), func(c session.Confirmation) string {
		if c.What == "serial" {
			return fmt.Sprint(serial)
		}
		return strings.Join(typed, " ")
	})
	if code != 0 {
		t.Fatalf("reset confirmed: exit %d\n%s", code, errOut)
	}
	if out, _ := e.must("key", "list", "--device", yubikey.DeviceURI(serial), "--pin-file", e.pinFile); strings.Contains(out, key.CanonicalID) {
		t.Fatalf("the reset left the key:\n%s", out)
	}
}
