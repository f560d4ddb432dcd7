package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/internal/testenv"
	"github.com/keyrite/keyrite/recovery"
)

// The crash tests run keyrite as a separate process (built here, with the
// test-only faultinject tag where they kill it at a PKCS#11 call) against
// its own SoftHSM token, and check what a kill, SIGINT or SIGTERM leaves
// and what the next run makes of it.

var (
	buildMu    sync.Mutex
	buildCache = map[string]string{}
)

// removingBuilds runs the tests, then removes the binaries buildKeyrite
// made.
type removingBuilds struct{ m *testing.M }

func (r removingBuilds) Run() int {
	code := r.m.Run()
	for _, p := range buildCache {
		os.RemoveAll(filepath.Dir(p))
	}
	return code
}

// buildKeyrite builds cmd/keyrite with the given build tags, once per test
// binary.
func buildKeyrite(t *testing.T, tags string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildCache[tags]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "keyrite-crash-bin-")
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(dir, "keyrite")
	cmd := exec.Command(goBin, "build", "-tags", tags, "-o", out, "github.com/keyrite/keyrite/cmd/keyrite")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags %q: %v\n%s", tags, err, b)
	}
	buildCache[tags] = out
	return out
}

// crashEnv is one SoftHSM token with a root key, a request bundle for n new
// GUNs and a state directory, for one keyrite binary.
type crashEnv struct {
	t                    *testing.T
	bin, dir, state      string
	conf, pinFile        string
	token, serial, uri   string
	req, out             string
	guns                 []string
	faultAfter, faultLog string
}

func newCrashEnv(t *testing.T, bin string, n int) *crashEnv {
	t.Helper()
	dir := t.TempDir()
	hsmDir := filepath.Join(dir, "softhsm")
	if err := os.Mkdir(hsmDir, 0o700); err != nil {
		t.Fatal(err)
	}
	h, err := testenv.NewSoftHSMDir(hsmDir, "crash")
	if err != nil {
		t.Fatal(err)
	}
	e := &crashEnv{t: t, bin: bin, dir: dir, state: filepath.Join(dir, "state"), conf: h.ConfPath, pinFile: h.PINFile,
		token: h.Label, serial: h.Serial, uri: h.URI(), req: filepath.Join(dir, "request"), out: filepath.Join(dir, "signed")}
	e.guns = writeCrashRequest(t, e.req, n)
	if _, stderr, code := e.run("key", "generate", "--device", e.uri, "--label", "root"); code != 0 {
		t.Fatalf("key generate: %d\n%s", code, stderr)
	}
	return e
}

func (e *crashEnv) command(args ...string) *exec.Cmd {
	// The token's PIN is the passphrase of the softkey file the backed-up
	// generation also imports into; each device is named with it.
	all := append(slices.Clone(args), "--pin-file", "pkcs11:token="+e.token+"="+e.pinFile,
		"--pin-file", "softkey:file="+filepath.Join(e.dir, "soft.softkey")+"="+e.pinFile, "--state-dir", e.state, "--no-wait")
	cmd := exec.Command(e.bin, all...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+e.conf, "HOME="+e.dir)
	if e.faultAfter != "" {
		cmd.Env = append(cmd.Env, "KEYRITE_FAULTINJECT_AFTER="+e.faultAfter)
	}
	if e.faultLog != "" {
		cmd.Env = append(cmd.Env, "KEYRITE_FAULTINJECT_LOG="+e.faultLog)
	}
	// No controlling terminal: a question that needs one cannot be asked.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return cmd
}

// run runs keyrite; code is -1 when a signal killed it.
func (e *crashEnv) run(args ...string) (stdout, stderr string, code int) {
	cmd := e.command(args...)
	var o, x bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &x
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return o.String(), x.String(), 0
	case errors.As(err, &ee):
		return o.String(), x.String(), ee.ExitCode()
	}
	e.t.Fatalf("running keyrite: %v", err)
	return
}

// initArgs is init of every GUN, reporting in JSON (extra flags before
// the GUNs; "--human" instead reports progress on stderr).
func (e *crashEnv) initArgs(extra ...string) []string {
	args := []string{"init", "--in", e.req, "-o", e.out, "--root-key", e.uri + ";object=root"}
	if i := slices.Index(extra, "--human"); i >= 0 {
		extra = slices.Delete(slices.Clone(extra), i, i+1)
	} else {
		args = append(args, "--json")
	}
	return append(append(args, extra...), e.guns...)
}

// initUntilSigned runs init of every GUN with its progress on stderr and
// calls act once the first GUN is reported signed. It returns stderr's
// lines, whether act was called, and the exit error.
func (e *crashEnv) initUntilSigned(act func(*os.Process)) (lines []string, acted bool, err error) {
	e.t.Helper()
	cmd := e.command(e.initArgs("--human")...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	first := fmt.Sprintf("[1/%d] signed", len(e.guns))
	for sc := bufio.NewScanner(stderr); sc.Scan(); {
		lines = append(lines, sc.Text())
		if !acted && strings.Contains(sc.Text(), first) {
			acted = true
			act(cmd.Process)
		}
	}
	return lines, acted, cmd.Wait()
}

// keys is the token's keys, label to key ID, as keyrite key list --json
// shows them.
func (e *crashEnv) keys() map[string]string {
	e.t.Helper()
	stdout, stderr, code := e.run("key", "list", "--device", e.uri, "--json")
	if code != 0 {
		e.t.Fatalf("key list: %d\n%s", code, stderr)
	}
	var l struct {
		Keys []struct {
			Label string `json:"label"`
			KeyID string `json:"key_id"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(stdout), &l); err != nil {
		e.t.Fatalf("key list --json: %v\n%s", err, stdout)
	}
	m := map[string]string{}
	for _, k := range l.Keys {
		if _, dup := m[k.Label]; dup {
			e.t.Errorf("two keys labelled %q", k.Label)
		}
		m[k.Label] = k.KeyID
	}
	return m
}

// bundleKeys is what the finished bundle names: the targets key ID of each
// GUN (and its root keys, by canonical ID, under "root").
func (e *crashEnv) bundleKeys() map[string]string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.out, bundle.SignedInfoName))
	if err != nil {
		e.t.Fatal(err)
	}
	var info bundle.SignedInfo
	if err := json.Unmarshal(b, &info); err != nil {
		e.t.Fatal(err)
	}
	m := map[string]string{}
	for _, r := range info.Repos {
		m["targets:"+r.GUN] = r.TargetsKeyID
		if len(r.RootCanonicalIDs) != 1 {
			e.t.Errorf("%s: root keys %v", r.GUN, r.RootCanonicalIDs)
		} else {
			m["root"] = r.RootCanonicalIDs[0]
		}
	}
	return m
}

// checkFinished checks the end state of every scenario: the bundle
// verifies, the token holds exactly the root key and the targets keys the
// bundle names, the journal is empty and no partial output is left.
func (e *crashEnv) checkFinished() {
	e.t.Helper()
	if _, stderr, code := e.run("verify", e.out); code != 0 {
		e.t.Errorf("verify: exit %d\n%s", code, stderr)
	}
	want, got := e.bundleKeys(), e.keys()
	if len(want) != len(e.guns)+1 || !mapsEqual(want, got) {
		e.t.Errorf("the token does not hold exactly the bundle's keys:\n  token:  %v\n  bundle: %v", got, want)
	}
	e.checkClean()
}

// checkClean checks that no journal and no partial output is left.
func (e *crashEnv) checkClean() {
	e.t.Helper()
	if entries, _ := os.ReadDir(filepath.Join(e.state, "journal")); len(entries) != 0 {
		var names []string
		for _, en := range entries {
			b, _ := os.ReadFile(filepath.Join(e.state, "journal", en.Name()))
			names = append(names, en.Name()+":\n"+string(b))
		}
		e.t.Errorf("journal left:\n%s", strings.Join(names, "\n"))
	}
	if m, _ := filepath.Glob(filepath.Join(e.dir, ".signed.partial-*")); len(m) != 0 {
		e.t.Errorf("partial output left: %v", m)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// faultCall is one PKCS#11 call of a counting run: its number and the
// function that made it.
type faultCall struct {
	n      int
	caller string
}

func readFaultLog(t *testing.T, path string) (calls []faultCall, killed *faultCall) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		k := strings.HasPrefix(line, "killed ")
		line = strings.TrimPrefix(line, "killed ")
		num, caller, _ := strings.Cut(line, " ")
		n, _ := strconv.Atoi(num)
		c := faultCall{n, caller}
		if k {
			killed = &c
			continue
		}
		calls = append(calls, c)
	}
	return calls, killed
}

// shortCaller is a call site without the package path: "(*Backend).Generate (keys.go:47)".
func shortCaller(c string) string {
	return strings.TrimPrefix(c, "github.com/keyrite/keyrite/hsm/pkcs11.")
}

// killPoints picks where to kill an init (k: after the k-th call, before
// the next). Around the targets key generation of a GUN (g is the number
// of its C_GenerateKeyPair call): g-4, after the journal's intent and
// before the label check; g-1, just before the key is made; g, just after
// it is made and before the journal records it; g+1 and g+3, during its
// read-back and self-test; g+5 and g+9, during the GUN's signatures, the
// key recorded. The first GUN gets every one of them, the last three, the
// GUNs between one each in turn. Plus the start (slot listing, root key,
// label check) and the end (logout and close, after the bundle is
// written).
func killPoints(calls []faultCall) []int {
	var gens []int
	for _, c := range calls {
		if strings.Contains(c.caller, "(*Backend).Generate ") {
			gens = append(gens, c.n)
		}
	}
	set := map[int]bool{1: true, 8: true, len(calls) - 2: true, len(calls) - 1: true}
	offsets := []int{-4, -1, 0, 1, 3, 5, 9}
	for i, g := range gens {
		switch {
		case i == 0:
			for _, off := range offsets {
				set[g+off] = true
			}
		case i == len(gens)-1:
			for _, off := range []int{-1, 0, 9} {
				set[g+off] = true
			}
		default:
			set[g+offsets[i%len(offsets)]] = true
		}
	}
	var ks []int
	for k := range set {
		if k >= 1 && k < len(calls) {
			ks = append(ks, k)
		}
	}
	sort.Ints(ks)
	return ks
}

// TestCrashInitKilledAtEachPoint kills init of 20 GUNs with SIGKILL at
// PKCS#11 calls all through the run, then runs it again: the rerun either
// succeeds or, without a terminal, stops at the one question about what
// the killed run left (changing nothing); with the answer given
// (--resume or --clean-leftovers, in turn) it succeeds, and the token ends
// up holding exactly the root key and the 20 targets keys the bundle
// names, with no journal and no partial output left.
func TestCrashInitKilledAtEachPoint(t *testing.T) {
	bin := buildKeyrite(t, "faultinject")
	const n = 20

	// A counting run: every PKCS#11 call of a whole init, in order.
	count := newCrashEnv(t, bin, n)
	count.faultLog = filepath.Join(count.dir, "calls.log")
	if _, stderr, code := count.run(count.initArgs()...); code != 0 {
		t.Fatalf("counting run: exit %d\n%s", code, stderr)
	}
	calls, _ := readFaultLog(t, count.faultLog)
	count.faultLog = ""
	count.checkFinished()
	points := killPoints(calls)
	t.Logf("init of %d GUNs makes %d PKCS#11 calls; killing after %d different ones", n, len(calls), len(points))
	if len(points) < 20 {
		t.Fatalf("only %d kill points", len(points))
	}

	var report []string
	asked := 0
	for i, k := range points {
		e := newCrashEnv(t, bin, n)
		e.faultAfter, e.faultLog = strconv.Itoa(k), filepath.Join(e.dir, "fault.log")
		_, stderr, code := e.run(e.initArgs()...)
		e.faultAfter, e.faultLog = "", ""
		_, killed := readFaultLog(t, filepath.Join(e.dir, "fault.log"))
		if code != -1 || killed == nil {
			t.Errorf("k=%d: not killed (exit %d)\n%s", k, code, stderr)
			continue
		}
		before := e.keys()
		left := len(before) - 1

		// The rerun, with nobody to answer a question.
		_, stderr, code = e.run(e.initArgs()...)
		outcome := ""
		switch {
		case code == 0:
			outcome = "rerun succeeded"
		case code == 1 && strings.Contains(stderr, "an interrupted run left"):
			asked++
			if !strings.Contains(stderr, "keyrite: hint: deal with them first: run the command again with --clean-leftovers") {
				t.Errorf("k=%d: the question's hint:\n%s", k, stderr)
			}
			if after := e.keys(); !mapsEqual(before, after) {
				t.Errorf("k=%d: unanswered, yet the token changed:\n  %v\n  %v", k, before, after)
			}
			flag := "--resume"
			if i%2 == 1 {
				flag = "--clean-leftovers"
			}
			var stdout string
			stdout, stderr, code = e.run(e.initArgs(flag)...)
			if code != 0 {
				t.Errorf("k=%d: rerun %s: exit %d\n%s", k, flag, code, stderr)
				continue
			}
			outcome = fmt.Sprintf("asked about %d key(s); rerun %s succeeded", left, flag)
			if flag == "--resume" {
				// The reused keys are the ones the bundle names.
				var res struct {
					Repos []struct {
						GUN          string `json:"gun"`
						TargetsKeyID string `json:"targets_key_id"`
					} `json:"repos"`
				}
				json.Unmarshal([]byte(stdout), &res)
				reused := 0
				for _, r := range res.Repos {
					if id, ok := before["targets:"+r.GUN]; ok {
						if id != r.TargetsKeyID {
							t.Errorf("k=%d: %s: resumed with a new key %s, not the one left (%s)", k, r.GUN, r.TargetsKeyID, id)
						}
						reused++
					}
				}
				outcome += fmt.Sprintf(", %d reused", reused)
			}
		case code == 1 && strings.Contains(stderr, "already exists") && fileExists(filepath.Join(e.out, bundle.SignedInfoName)):
			outcome = "bundle already complete (killed after it was written); rerun refuses the existing output"
		default:
			t.Errorf("k=%d: rerun: exit %d\n%s", k, code, stderr)
			continue
		}
		e.checkFinished()
		report = append(report, fmt.Sprintf("k=%3d killed before call %3d %-55s left %2d key(s): %s",
			k, killed.n, shortCaller(killed.caller), left, outcome))
	}
	t.Logf("kill points (%d), %d of them asked:\n%s", len(report), asked, strings.Join(report, "\n"))
	if asked == 0 {
		t.Error("no kill left anything to ask about: the test does not reach the journal")
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestCrashInitInterrupted sends SIGINT or SIGTERM to init of 20 GUNs once
// it has signed five: it rolls back (the targets keys it made are
// destroyed), writes nothing, leaves no journal and no partial output, and
// says which signal stopped it. More signals during the rollback change
// nothing.
func TestCrashInitInterrupted(t *testing.T) {
	bin := buildKeyrite(t, "")
	for _, c := range []struct {
		name string
		sigs []syscall.Signal
	}{
		{"SIGINT", []syscall.Signal{syscall.SIGINT}},
		{"SIGTERM", []syscall.Signal{syscall.SIGTERM}},
		{"SIGINT, then more during the rollback", []syscall.Signal{syscall.SIGINT, syscall.SIGINT, syscall.SIGTERM, syscall.SIGINT}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newCrashEnv(t, bin, 20)
			before := e.keys()
			lines, sent, err := e.initUntilSigned(func(p *os.Process) {
				for _, s := range c.sigs {
					p.Signal(s)
					time.Sleep(5 * time.Millisecond)
				}
			})
			out := strings.Join(lines, "\n")
			var ee *exec.ExitError
			if !sent || !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("sent %v, exit %v:\n%s", sent, err, out)
			}
			want := "interrupted (" + c.name[:strings.Index(c.name+",", ",")] + ")"
			if !strings.Contains(out, "keyrite: error: "+want) || !strings.Contains(out, "this run created were removed; nothing was written") ||
				!strings.Contains(out, "keyrite: hint: nothing of this run is left") {
				t.Errorf("stderr:\n%s", out)
			}
			if after := e.keys(); !mapsEqual(before, after) {
				t.Errorf("the token changed: %v, was %v", after, before)
			}
			if fileExists(e.out) {
				t.Error("an output was written")
			}
			e.checkClean()
			// The next run has nothing to ask about.
			if _, stderr, code := e.run(e.initArgs()...); code != 0 {
				t.Fatalf("rerun: exit %d\n%s", code, stderr)
			}
			e.checkFinished()
		})
	}
}

// TestCrashBackedUpKilledDuringImports kills a backed-up generation onto a
// softkey file and a SoftHSM token while it imports the key into the token
// (the backup written and verified): before the token's objects exist,
// between its private and public objects, after both exist but before the
// journal records them, and during the device's test signature. The rerun
// with the same -o says which devices lack the key and names the restore
// command (after removing a half-made import, if asked to), or finishes
// at once when every device holds the key; given two custodians' shares it
// finishes, and both devices end up with the backed-up key.
func TestCrashBackedUpKilledDuringImports(t *testing.T) {
	bin := buildKeyrite(t, "faultinject")
	idA, _ := age.GenerateX25519Identity()
	idB, _ := age.GenerateX25519Identity()
	setup := func(t *testing.T) (*crashEnv, []string) {
		e := newCrashEnv(t, bin, 1)
		for name, id := range map[string]*age.X25519Identity{"alice": idA, "bob": idB} {
			if err := os.WriteFile(filepath.Join(e.dir, name+".key"), []byte(id.String()+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return e, []string{"key", "generate", "--mode", "backed-up", "--label", "root-bu",
			"--device", "softkey:file=" + filepath.Join(e.dir, "soft.softkey"), "--device", e.uri,
			"--custodian", "alice=" + idA.Recipient().String(), "--custodian", "bob=" + idB.Recipient().String(),
			"--threshold", "2", "-o", filepath.Join(e.dir, "backup"), "--json"}
	}
	shares := func(e *crashEnv) []string {
		return []string{"--share", filepath.Join(e.dir, "backup", "alice.share.age"), "--share", filepath.Join(e.dir, "backup", "bob.share.age"),
			"-i", filepath.Join(e.dir, "alice.key"), "-i", filepath.Join(e.dir, "bob.key")}
	}

	count, args := setup(t)
	count.faultLog = filepath.Join(count.dir, "calls.log")
	if _, stderr, code := count.run(args...); code != 0 {
		t.Fatalf("counting run: exit %d\n%s", code, stderr)
	}
	calls, _ := readFaultLog(t, count.faultLog)
	var creates, signs []int
	for _, c := range calls {
		if strings.Contains(c.caller, "(*Backend).Import ") {
			creates = append(creates, c.n)
		}
		if strings.Contains(c.caller, "deviceSignLocked") {
			signs = append(signs, c.n)
		}
	}
	if len(creates) != 2 || len(signs) == 0 {
		t.Fatalf("calls: %v", calls)
	}
	// What the rerun (without shares) must do after each kill.
	const (
		names  = "names the device that lacks the key"
		asks   = "asks about the half-made import, then names the device"
		atOnce = "finishes at once"
	)
	points := []struct {
		name string
		k    int
		want string
	}{
		{"before the token's objects exist", creates[0] - 1, names},
		{"between the private and the public object", creates[0], asks},
		{"after both objects, before the journal", creates[1], atOnce},
		{"during the token's test signature", signs[len(signs)-1] - 1, atOnce},
	}
	for _, p := range points {
		name, k := p.name, p.k
		t.Run(name, func(t *testing.T) {
			e, args := setup(t)
			e.faultAfter = strconv.Itoa(k)
			if _, stderr, code := e.run(args...); code != -1 {
				t.Fatalf("not killed: exit %d\n%s", code, stderr)
			}
			e.faultAfter = ""
			g, err := recovery.ReadGeneration(filepath.Join(e.dir, "backup"))
			if err != nil || !g.Verified || g.Finished {
				t.Fatalf("the backup after the kill: %+v %v", g, err)
			}
			_, stderr, code := e.run(args...)
			got := map[bool]string{true: atOnce, false: names}[code == 0]
			if code == 1 && strings.Contains(stderr, "an interrupted run left") {
				got = asks
				// A half-made import: only removing it is offered.
				if !strings.Contains(stderr, "its creation was cut short") {
					t.Errorf("question:\n%s", stderr)
				}
				_, stderr, code = e.run(append(args, "--clean-leftovers")...)
			}
			if got != p.want {
				t.Errorf("the rerun %s, want: %s\n%s", got, p.want, stderr)
			}
			switch {
			case code == 0:
				t.Logf("the rerun finished at once: the token held the key\n%s", stderr)
			case code == 1:
				for _, want := range []string{
					"keyrite: error: " + filepath.Join(e.dir, "backup") + " is an interrupted backed-up generation of key " + g.KeyID,
					"its backup was written and verified",
					"the key is on softkey:file=",
					"it is NOT on " + e.uri,
					"keyrite: hint: give any 2 of the shares",
					"keyrite recover restore --to '" + e.uri + "' -o " + filepath.Join(e.dir, "backup") + ".restore-1 -i IDENTITY... SHARE...;",
				} {
					if !strings.Contains(stderr, want) {
						t.Errorf("stderr lacks %q:\n%s", want, stderr)
					}
				}
				stdout, stderr, code := e.run(append(args, shares(e)...)...)
				if code != 0 {
					t.Fatalf("finishing with the shares: exit %d\n%s", code, stderr)
				}
				if !strings.Contains(stdout, `"imported": [`) || !strings.Contains(stdout, e.uri) {
					t.Errorf("finish: %s", stdout)
				}
			default:
				t.Fatalf("rerun: exit %d\n%s", code, stderr)
			}
			g, err = recovery.ReadGeneration(filepath.Join(e.dir, "backup"))
			if err != nil || !g.Finished {
				t.Fatalf("not finished: %+v %v", g, err)
			}
			if got := e.keys(); got["root-bu"] != g.KeyID {
				t.Errorf("token: %v, want root-bu = %s", got, g.KeyID)
			}
			stdout, _, _ := e.run("key", "list", "--device", "softkey:file="+filepath.Join(e.dir, "soft.softkey"), "--json")
			if !strings.Contains(stdout, g.KeyID) {
				t.Errorf("softkey: %s", stdout)
			}
			// Finished: the same command refuses the existing backup.
			if _, stderr, code := e.run(args...); code != 1 || !strings.Contains(stderr, "already exists") {
				t.Errorf("after finishing: exit %d\n%s", code, stderr)
			}
			e.checkClean()
		})
	}
}

// TestKeyDeleteWithoutTerminal: with nobody to type the key ID and no
// --confirm-key-id, key delete deletes nothing and says how to answer.
func TestKeyDeleteWithoutTerminal(t *testing.T) {
	e := newCrashEnv(t, buildKeyrite(t, ""), 1)
	_, stderr, code := e.run("key", "delete", e.uri+";object=root")
	if code != 1 || !strings.Contains(stderr, "keyrite: error: not confirmed: nothing was done (delete destroys key ") ||
		!strings.Contains(stderr, "keyrite: hint: nobody could be asked: run keyrite in a terminal to type the answer, or give it in advance") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	if _, ok := e.keys()["root"]; !ok {
		t.Error("the key was deleted")
	}
}

// writeCrashRequest writes a request bundle for n new GUNs: no server is
// needed offline.
func writeCrashRequest(t *testing.T, dir string, n int) []string {
	var guns []string
	for i := range n {
		guns = append(guns, fmt.Sprintf("example.com/crash/app%02d", i))
	}
	offlineRequest(t, dir, guns...)
	return guns
}
