package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/internal/buildinfo"
	"github.com/keyrite/keyrite/internal/testenv"
)

// TestVersion: keyrite version and --version name keyrite and the
// libraries a ceremony rests on; --json has them all.
func TestVersion(t *testing.T) {
	var info buildinfo.Info
	if err := json.Unmarshal([]byte(mustKeyrite(t, "version", "--json")), &info); err != nil {
		t.Fatal(err)
	}
	for _, dep := range []string{"notary", "piv-go", "pkcs11", "age"} {
		if !strings.HasPrefix(info.Dependencies[dep], "v") {
			t.Errorf("version --json: %s is %q", dep, info.Dependencies[dep])
		}
	}
	if !strings.HasPrefix(info.Go, "go1.") || info.Version == "" {
		t.Errorf("version --json = %+v", info)
	}
	text := mustKeyrite(t, "version")
	if flag := mustKeyrite(t, "--version"); flag != text || !strings.HasPrefix(text, "keyrite ") || !strings.Contains(text, "notary v0.7.0") {
		t.Errorf("version:\n%s--version:\n%s", text, flag)
	}
}

// tarEnv is a SoftHSM token with two root keys and a notary-server.
type tarEnv struct {
	t       *testing.T
	h       *testenv.SoftHSM
	srv     *testenv.NotaryServer
	dir     string
	keyA    string
	keyB    string
	secrets []string
}

func newTarEnv(t *testing.T) *tarEnv {
	e := &tarEnv{t: t, h: testenv.NewSoftHSM(t, "ceremony"), srv: testenv.StartNotaryServer(t), dir: t.TempDir()}
	e.secrets = []string{"--pin-file", e.h.PINFile, "--module", e.h.Module}
	for _, l := range []string{"root-a", "root-b"} {
		e.run("key", "generate", "--device", "pkcs11:token=ceremony", "--label", l)
	}
	e.keyA, e.keyB = "pkcs11:token=ceremony;object=root-a", "pkcs11:token=ceremony;object=root-b"
	return e
}

func (e *tarEnv) p(name string) string { return filepath.Join(e.dir, name) }

func (e *tarEnv) run(args ...string) string {
	e.t.Helper()
	return mustKeyrite(e.t, append(args, e.secrets...)...)
}

func (e *tarEnv) server() []string { return []string{"--server", e.srv.URL, "--tls-ca", e.srv.CAFile} }

// TestTarBundles takes single-file bundles through fetch, init, verify,
// publish, a refresh signed by two holders one after another (sign), and
// publish again, for a GUN whose registry port needs encoding on FAT; the
// notary CLI lists the result. It also measures writing and verifying the
// same signed bundle as a directory and as a tar.
func TestTarBundles(t *testing.T) {
	pcscSocketForProcess(t)
	e := newTarEnv(t)
	gun := "localhost:5000/tar/app"
	e.run(append(append([]string{"fetch", "-o", e.p("req.tar")}, e.server()...), gun)...)
	// Completion: GUNs from the request bundle --in names, device URIs.
	if out, _, _ := runKeyrite(t, "__complete", "init", "--in", e.p("req.tar"), ""); !strings.Contains(out, gun+"\tnew") {
		t.Errorf("completion of init's GUN from --in:\n%s", out)
	}
	if out, _, _ := runKeyrite(t, "__complete", "init", "--module", e.h.Module, "--root-key", "pkcs11:"); !strings.Contains(out, "pkcs11:token=ceremony") {
		t.Errorf("completion of --root-key:\n%s", out)
	}
	e.run("init", "--in", e.p("req.tar"), "-o", e.p("s1.tar"), "--root-key", e.keyA, "--root-key", e.keyB, "--root-threshold", "2", gun)
	if out := e.run("verify", e.p("s1.tar")); !strings.Contains(out, "verified: 1 repositories") {
		t.Fatalf("verify s1.tar:\n%s", out)
	}
	// The keyrite that wrote it is recorded: bundle.json, request.json and
	// the transcript's ceremony.start line.
	s1, err := bundle.ReadSigned(e.p("s1.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if s1.Info.Keyrite == nil || s1.Info.Keyrite.Dependencies["notary"] != "v0.7.0" || s1.Request.Info.Keyrite == nil {
		t.Errorf("bundle.json / request.json keyrite: %+v / %+v", s1.Info.Keyrite, s1.Request.Info.Keyrite)
	}
	entries, err := bundle.VerifyTranscript(s1.Files[bundle.TranscriptName])
	if err != nil || len(entries) == 0 || entries[0].Event != "ceremony.start" || !bytes.Contains(entries[0].Data, []byte(`"keyrite":{"version":`)) {
		t.Errorf("transcript's ceremony.start does not record keyrite: %v %s", err, entries[0].Data)
	}
	names := tarNames(t, e.p("s1.tar"))
	if !names["repos/localhost%3A5000/tar/app/_trust/root.json"] || !names["request/repos/localhost%3A5000/tar/app/_trust/timestamp.key"] {
		t.Errorf("tar entries do not encode the port's colon: %v", names)
	}
	for n := range names {
		if strings.ContainsAny(n, `<>:"\|?*`) {
			t.Errorf("tar entry %q is not FAT-safe", n)
		}
	}
	e.run(append(append([]string{"publish"}, e.server()...), e.p("s1.tar"))...)

	e.run(append(append([]string{"fetch", "-o", e.p("req2.tar")}, e.server()...), gun)...)
	e.run("refresh", "--in", e.p("req2.tar"), "-o", e.p("s2.tar"), "--root-key", e.keyA, gun)
	_, stderr, code := runKeyrite(t, append(append([]string{"publish"}, e.server()...), e.p("s2.tar"))...)
	if code != exitVerifyKO || !strings.Contains(stderr, "not fully signed") {
		t.Fatalf("publish of a half-signed tar: exit %d\n%s", code, stderr)
	}
	e.run("sign", e.p("s2.tar"), "--key", e.keyB, "-o", e.p("s3.tar"))
	e.run("verify", e.p("s3.tar"))
	e.run(append(append([]string{"publish"}, e.server()...), e.p("s3.tar"))...)
	var st []bundle.RepoStatus
	json.Unmarshal([]byte(e.run(append(append([]string{"status", "--json"}, e.server()...), gun)...)), &st)
	if len(st) != 1 || st[0].RootVersion != 2 || st[0].RootThreshold != 2 {
		t.Fatalf("status after the tar round trip: %+v", st)
	}
	if out, stderr, err := e.srv.NotaryCLI(e.p("notary-trust"), "list", gun); err != nil {
		t.Fatalf("notary list: %v\n%s%s", err, out, stderr)
	}

	// The same bundle as a directory and as a tar: write, then read and
	// verify, several times each, in this run.
	s, err := bundle.ReadSigned(e.p("s3.tar"))
	if err != nil {
		t.Fatal(err)
	}
	files := bundle.Files{}
	for p, b := range s.Files {
		if !strings.HasPrefix(p, "request/") {
			files[p] = b
		}
	}
	files = withoutInfo(files)
	// Alternating, so both meet the same page cache and journal.
	const rounds = 20
	var took [2][2]time.Duration // [directory, tar][write, verify]
	for i := 0; i < rounds; i++ {
		for k, suffix := range []string{"", ".tar"} {
			out := filepath.Join(e.dir, "timing", fmt.Sprintf("b%d%s", i, suffix))
			os.MkdirAll(filepath.Dir(out), 0o755)
			start := time.Now()
			if err := bundle.WriteSigned(out, s.Info, files, s.Request, s.Files[bundle.TranscriptName]); err != nil {
				t.Fatal(err)
			}
			mid := time.Now()
			if _, err := verify.Dir(out, time.Now(), verify.Options{}); err != nil {
				t.Fatal(err)
			}
			took[k][0] += mid.Sub(start)
			took[k][1] += time.Since(mid)
		}
	}
	for k := range took {
		for m := range took[k] {
			took[k][m] /= rounds
		}
	}
	dirT, tarT := took[0][0]+took[0][1], took[1][0]+took[1][1]
	t.Logf("a 1-GUN signed bundle (%d files), mean of %d: directory write %v + verify %v = %v; tar write %v + verify %v = %v; tar/directory %.2f",
		len(s.Files), rounds, took[0][0], took[0][1], dirT, took[1][0], took[1][1], tarT, float64(tarT)/float64(dirT))
}

// withoutInfo drops what WriteSigned adds itself.
func withoutInfo(f bundle.Files) bundle.Files {
	delete(f, bundle.SignedInfoName)
	delete(f, bundle.TranscriptName)
	return f
}

func tarNames(t *testing.T, p string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names[h.Name] = true
	}
	return names
}

// TestExitCodes checks every row of the README's exit-code table, in text
// and with --json (one object on stdout with the same exit_code).
func TestExitCodes(t *testing.T) {
	pcscSocketForProcess(t)
	e := newTarEnv(t)
	gun := "registry.example.com/exit/app"
	e.run(append(append([]string{"fetch", "-o", e.p("req")}, e.server()...), gun)...)
	e.run("init", "--in", e.p("req"), "-o", e.p("signed"), "--root-key", e.keyA, gun)
	bad := e.p("tampered")
	cpTree(t, e.p("signed"), bad)
	root := filepath.Join(bad, filepath.FromSlash(bundle.RepoFile(gun, "root.json")))
	b, _ := os.ReadFile(root)
	os.WriteFile(root, bytes.Replace(b, []byte(`"version":1`), []byte(`"version":2`), 1), 0o644)
	// A doctored bundle whose manifest was rebuilt to match: it reads, and
	// fails verification with a report.
	remanifested := e.p("remanifested")
	cpTree(t, bad, remanifested)
	files := bundle.Files{}
	filepath.Walk(remanifested, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			rel, _ := filepath.Rel(remanifested, p)
			if rel != bundle.ManifestName {
				files[filepath.ToSlash(rel)], _ = os.ReadFile(p)
			}
		}
		return nil
	})
	man, err := bundle.BuildManifest(bundle.KindSigned, files)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(remanifested, bundle.ManifestName), man, 0o644)
	wrongPIN := e.p("wrong.pin")
	os.WriteFile(wrongPIN, []byte("999999\n"), 0o600)
	mod := []string{"--module", e.h.Module}
	planHead := "version: 1\nceremony: exit\noperators: [op]\nairgap: not-required\ndevices:\n  gone: {token: no-such-token}\n"
	os.WriteFile(e.p("unknown.yaml"), []byte(planHead+"steps:\n  - generate: {mode: on-device, label: r, devices: [gone], colour: red}\n"), 0o644)
	os.WriteFile(e.p("secret.yaml"), []byte(planHead+"pin: 123456\nsteps:\n  - generate: {mode: on-device, label: r, devices: [gone]}\n"), 0o644)
	os.WriteFile(e.p("absent.yaml"), []byte(planHead+"steps:\n  - generate: {mode: on-device, label: r, devices: [gone]}\n"), 0o644)

	rows := []struct {
		name string
		code int
		want string
		args []string
	}{
		{"ok", exitOK, "", []string{"version"}},
		{"failed: missing bundle", exitFailed, "does not exist", []string{"verify", e.p("nonexistent")}},
		{"failed: output exists", exitFailed, "already exists", []string{"init", "--in", e.p("req"), "-o", e.p("signed"), "--root-key", e.keyA, gun}},
		{"usage: unknown flag", exitUsage, "unknown flag", []string{"verify", "--nope", e.p("signed")}},
		{"usage: URI without scheme", exitUsage, "missing scheme", []string{"key", "list", "--device", "token=ceremony"}},
		{"usage: URI unknown attribute", exitUsage, "tokn", []string{"key", "list", "--device", "pkcs11:tokn=ceremony"}},
		{"usage: URI unknown scheme", exitUsage, "unsupported key URI scheme", []string{"key", "list", "--device", "pkcs12:token=ceremony"}},
		{"usage: URI bad slot", exitUsage, "slot", []string{"key", "list", "--device", "yubikey:serial=1;slot=zz"}},
		{"usage: URI softkey without file", exitUsage, "file=PATH", []string{"key", "list", "--device", "softkey:object=x"}},
		{"device: wrong PIN", exitDevice, "wrong PIN", append([]string{"key", "generate", "--device", "pkcs11:token=ceremony", "--label", "x", "--pin-file", wrongPIN}, mod...)},
		{"device: absent", exitDevice, "not found", append([]string{"key", "list", "--device", "pkcs11:token=no-such-token", "--no-wait", "--pin-file", e.h.PINFile}, mod...)},
		{"usage: plan unknown field", exitUsage, "line 8: steps[1].generate.colour: unknown field", []string{"ceremony", "check", "--no-devices", e.p("unknown.yaml")}},
		{"usage: plan with a secret", exitUsage, "holds a secret", []string{"ceremony", "check", "--no-devices", e.p("secret.yaml")}},
		{"device: plan device absent", exitDevice, "not attached", append([]string{"ceremony", "check", e.p("absent.yaml")}, mod...)},
		{"verification failed", exitVerifyKO, "do not publish", []string{"verify", bad}},
	}
	for _, r := range rows {
		stdout, stderr, code := runKeyrite(t, r.args...)
		if code != r.code || !strings.Contains(stderr, r.want) {
			t.Errorf("%s: keyrite %s: exit %d, want %d with %q\n%s", r.name, strings.Join(r.args, " "), code, r.code, r.want, stderr)
		}
		if r.code == exitFailed && strings.Contains(stderr, "do not publish") {
			t.Errorf("%s: a failure that is not a verification says %q", r.name, stderr)
		}
		if r.code == exitOK {
			continue
		}
		stdout, _, code = runKeyrite(t, append(r.args, "--json")...)
		f := decodeFailure(t, r.name, stdout)
		if code != r.code || f.ExitCode != r.code || !strings.Contains(f.Error+" "+f.Hint, r.want) || f.Hint == "" {
			t.Errorf("%s --json: exit %d, object %+v; want exit_code %d with %q", r.name, code, f, r.code, r.want)
		}
	}
	// verify --json on a failure: one object, with the report.
	stdout, _, _ := runKeyrite(t, "verify", "--json", remanifested)
	var withRep struct {
		jsonFailure
		Report *verify.Report `json:"report"`
	}
	if err := json.Unmarshal([]byte(stdout), &withRep); err != nil || withRep.Report == nil || withRep.Report.Server == "" || withRep.ExitCode != exitVerifyKO {
		t.Errorf("verify --json of a tampered bundle: %v\n%s", err, stdout)
	}
}

// decodeFailure reads stdout as exactly one JSON failure object.
func decodeFailure(t *testing.T, name, stdout string) jsonFailure {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	var f jsonFailure
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		t.Errorf("%s: stdout is not a JSON object: %v\n%s", name, err, stdout)
		return f
	}
	if dec.More() {
		t.Errorf("%s: more than one JSON value on stdout:\n%s", name, stdout)
	}
	for _, k := range []string{"error", "hint", "exit_code"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("%s: the JSON failure has no %q: %s", name, k, stdout)
		}
	}
	b, _ := json.Marshal(raw)
	json.Unmarshal(b, &f)
	return f
}

// TestJSONErrors: each command's main failure, with --json, is one JSON
// object on stdout with error, hint and exit_code.
func TestJSONErrors(t *testing.T) {
	pcscSocketForProcess(t)
	dir := t.TempDir()
	none := filepath.Join(dir, "nonexistent")
	share := filepath.Join(dir, "no.share.age")
	unreachable := []string{"--server", "https://127.0.0.1:1", "--timeout", "2s"}
	rows := []struct {
		code int
		args []string
	}{
		{exitFailed, append([]string{"fetch", "-o", filepath.Join(dir, "r"), "registry.example.com/j/app"}, unreachable...)},
		{exitFailed, []string{"init", "--in", none, "-o", filepath.Join(dir, "s"), "--root-key", "pkcs11:token=x;object=y", "registry.example.com/j/app"}},
		{exitFailed, []string{"verify", none}},
		{exitFailed, append([]string{"publish", none}, unreachable...)},
		{exitFailed, append([]string{"status", "registry.example.com/j/app"}, unreachable...)},
		{exitFailed, []string{"refresh", "--in", none, "-o", filepath.Join(dir, "s"), "--root-key", "pkcs11:token=x;object=y", "registry.example.com/j/app"}},
		{exitFailed, []string{"rotate", "root", "--in", none, "-o", filepath.Join(dir, "s"), "--root-key", "pkcs11:token=x;object=y", "--new-root-key", "pkcs11:token=x;object=z", "registry.example.com/j/app"}},
		{exitFailed, []string{"signer", "remove", "--in", none, "-o", filepath.Join(dir, "s"), "--targets-key", "pkcs11:token=x;object=y", "registry.example.com/j/app", "ci"}},
		{exitFailed, []string{"sign", none, "--key", "pkcs11:token=x;object=y", "-o", filepath.Join(dir, "s")}},
		{exitUsage, []string{"key", "generate", "--device", "pkcs11:tokn=x", "--label", "l"}},
		{exitUsage, []string{"key", "list", "--device", "nope"}},
		{exitUsage, []string{"device", "provision", "yubikey:slot=9c"}},
		{exitFailed, []string{"backup", "verify", "--identity", none, share}},
		{exitFailed, []string{"trust", "import", none}},
		{exitUsage, []string{"version", "extra"}},
	}
	for _, r := range rows {
		args := append(r.args, "--json")
		stdout, stderr, code := runKeyrite(t, args...)
		f := decodeFailure(t, strings.Join(r.args[:2], " "), stdout)
		if code != r.code || f.ExitCode != code || f.Error == "" {
			t.Errorf("keyrite %s: exit %d (want %d), stdout %s\nstderr %s", strings.Join(args, " "), code, r.code, stdout, stderr)
		}
	}
}

func cpTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestManPages: keyrite man DIR writes a page per command.
func TestManPages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man1")
	mustKeyrite(t, "man", dir)
	for _, page := range []string{"keyrite.1", "keyrite-init.1", "keyrite-status.1", "keyrite-diff.1", "keyrite-rotate-root.1", "keyrite-version.1", "keyrite-incident-signer.1", "keyrite-incident-targets.1", "keyrite-revoke.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil || !bytes.Contains(b, []byte(".TH \"KEYRITE\" \"1\"")) || !bytes.Contains(b, []byte(".SH SYNOPSIS")) {
			t.Errorf("%s: %v\n%.300s", page, err, b)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "keyrite-status.1")); !bytes.Contains(b, []byte("prometheus")) {
		t.Error("keyrite-status.1 does not document --format prometheus")
	}
}

// pcscSocketForProcess points libpcsclite at the socket every pcscd of this
// test process uses, before a command lists or scans YubiKeys (completion,
// a YubiKey URI without a serial): libpcsclite caches the socket path at
// its first use, and the YubiKey tests that follow need theirs.
func pcscSocketForProcess(t *testing.T) {
	t.Setenv("PCSCLITE_CSOCK_NAME", testenv.SocketForProcess())
}
