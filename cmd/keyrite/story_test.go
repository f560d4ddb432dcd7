package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/pkcs11"
	"github.com/keyrite/keyrite/internal/testenv"
	"github.com/theupdateframework/notary/tuf/data"
)

// story runs keyrite commands of one long ceremony history against a live
// notary-server, and judges each step with the notary CLI and docker, both
// keeping their trust caches from step to step (they hold OLD trust).
type story struct {
	t       *testing.T
	h       *testenv.SoftHSM
	srv     *testenv.NotaryServer
	dir     string
	gun     string
	step    int
	trustV1 string // notary trust dir used at v1 and then only at the end of rotation
	trust   string // notary trust dir used at every step
	docker  string // docker config (trust cache) used at every step
	ci      string // the CI signer's docker config: holds only the delegation key
}

const ciPass = "ci delegation passphrase"

func (s *story) path(name string) string { return filepath.Join(s.dir, name) }

func (s *story) keyrite(args ...string) string {
	s.t.Helper()
	return mustKeyrite(s.t, append(args, "--pin-file", s.h.PINFile, "--module", s.h.Module)...)
}

// keyriteFails runs a command that must fail with the exit code, mention
// want, and create no output directory.
func (s *story) keyriteFails(code int, want, out string, args ...string) {
	s.t.Helper()
	_, stderr, got := runKeyrite(s.t, append(args, "--pin-file", s.h.PINFile, "--module", s.h.Module)...)
	if got != code || !strings.Contains(stderr, want) {
		s.t.Fatalf("keyrite %s: exit %d, want %d with %q; stderr:\n%s", strings.Join(args, " "), got, code, want, stderr)
	}
	if out != "" {
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			s.t.Fatalf("refused command left %s behind", out)
		}
	}
}

func (s *story) fetch() string {
	s.t.Helper()
	s.step++
	out := s.path(fmt.Sprintf("request%02d", s.step))
	s.keyrite("fetch", "--server", s.srv.URL, "--tls-ca", s.srv.CAFile, "-o", out, s.gun)
	return out
}

func (s *story) publish(bundleDir string) {
	s.t.Helper()
	s.keyrite("publish", "--server", s.srv.URL, "--tls-ca", s.srv.CAFile, bundleDir)
}

func (s *story) key(label string) string {
	s.t.Helper()
	s.keyrite("key", "generate", "--device", "pkcs11:token=ceremony", "--label", label)
	return "pkcs11:token=ceremony;object=" + label
}

// notaryList lists the repository's tags with the notary CLI and a trust dir.
func (s *story) notaryList(trustDir string) string {
	s.t.Helper()
	out, stderr, err := s.srv.NotaryCLI(trustDir, "list", s.gun)
	if err != nil {
		s.t.Fatalf("notary list with %s: %v\n%s%s", filepath.Base(trustDir), err, out, stderr)
	}
	return out
}

func (s *story) inspect() string {
	s.t.Helper()
	out, err := s.srv.DockerTrustInspect(s.docker, s.gun, true)
	if err != nil {
		s.t.Fatalf("docker trust inspect: %v\n%s", err, out)
	}
	return out
}

func (s *story) status() bundle.RepoStatus {
	s.t.Helper()
	var st []bundle.RepoStatus
	if err := json.Unmarshal([]byte(s.keyrite("status", "--server", s.srv.URL, "--tls-ca", s.srv.CAFile, "--json", s.gun)), &st); err != nil || len(st) != 1 {
		s.t.Fatalf("status: %v", err)
	}
	return st[0]
}

// ciSign adds a tag through targets/releases with the notary CLI holding
// only the delegation key, into targets/releases and targets/ci as docker
// trust sign does (docker names signers from their own roles).
func (s *story) ciSign(tag string) {
	s.t.Helper()
	file := s.path(tag + ".txt")
	os.WriteFile(file, []byte("image "+tag), 0o644)
	env := []string{"NOTARY_DELEGATION_PASSPHRASE=" + ciPass}
	trust := filepath.Join(s.ci, "trust")
	for _, args := range [][]string{{"add", s.gun, tag, file, "--roles", "targets/releases", "--roles", "targets/ci"}, {"publish", s.gun}} {
		if out, stderr, err := s.srv.NotaryCLIEnv(env, trust, args...); err != nil {
			s.t.Fatalf("CI: notary %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
	}
}

// TestStoryRotationsAndSigners is the periodic-ceremony story of issue 5.
func TestStoryRotationsAndSigners(t *testing.T) {
	s := &story{t: t, h: testenv.NewSoftHSM(t, "ceremony"), srv: testenv.StartNotaryServer(t), dir: t.TempDir(),
		gun: "registry.example.com/story/app"}
	s.trustV1, s.trust, s.docker, s.ci = s.path("trust-v1"), s.path("trust"), s.path("docker"), s.path("ci-docker")
	root1 := s.key("root1")

	// 1. init → publish.
	req := s.fetch()
	var init ceremony.InitResult
	json.Unmarshal([]byte(s.keyrite("init", "--in", req, "-o", s.path("s1"), "--root-key", root1, "--json", s.gun)), &init)
	targets1 := init.Repos[0].TargetsKeyURI
	s.publish(s.path("s1"))
	s.notaryList(s.trustV1)
	s.notaryList(s.trust)
	if got, _ := testenv.ParseDockerRootKey(s.inspect()); got != init.Repos[0].RootKeyIDs[0] {
		t.Fatalf("step 1: docker Root Key %s, want %s", got, init.Repos[0].RootKeyIDs[0])
	}

	// 2. signer add ci, with a key docker trust key generate made.
	os.MkdirAll(s.ci, 0o700)
	gen := exec.Command("docker", "trust", "key", "generate", "ci", "--dir", s.dir)
	gen.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.ci, "DOCKER_CONFIG=" + s.ci, "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=" + ciPass}
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("docker trust key generate: %v\n%s", err, out)
	}
	req = s.fetch()
	s.keyriteFails(exitFailed, "cannot be docker signers", s.path("bad-signer"), "signer", "add", "--in", req, "-o", s.path("bad-signer"),
		"--targets-key", targets1, s.gun, "ed", "--key", writeEd25519PEM(t, s.path("ed.pub")))
	s.keyrite("signer", "add", "--in", req, "-o", s.path("s2"), "--targets-key", targets1, s.gun, "ci", "--key", s.path("ci.pub"))
	s.publish(s.path("s2"))
	s.ciSign("v1")
	out := s.inspect()
	if tag, ok := testenv.ParseDockerSignedTags(out)["v1"]; !ok || !strings.Contains(strings.Join(tag.Signers, ","), "ci") {
		t.Fatalf("step 2: docker does not show v1 signed by ci:\n%s", out)
	}
	if _, ok := testenv.ParseDockerSigners(out)["ci"]; !ok {
		t.Fatalf("step 2: docker lists no signer ci:\n%s", out)
	}

	// 3. rotate root to a new key, then to a 2-of-3 threshold.
	root2 := s.key("root2")
	req = s.fetch()
	s.keyriteFails(exitFailed, "missing key IDs", s.path("only-new"), "rotate", "root", "--in", req, "-o", s.path("only-new"),
		"--new-root-key", root2, s.gun) // signed only by the new key: refused
	s.keyrite("rotate", "root", "--in", req, "-o", s.path("s3a"), "--root-key", root1, "--new-root-key", root2, s.gun)
	s.publish(s.path("s3a"))
	s.notaryList(s.trust)
	hA, hB, hC := s.key("holder-a"), s.key("holder-b"), s.key("holder-c")
	req = s.fetch()
	var rot session.UpdateResult
	json.Unmarshal([]byte(s.keyrite("rotate", "root", "--in", req, "-o", s.path("s3b"), "--root-key", root2,
		"--new-root-key", hA, "--new-root-key", hB, "--new-root-key", hC, "--threshold", "2", "--json", s.gun)), &rot)
	if !rot.Complete || rot.Repos[0].RootVersion != 3 || len(rot.Repos[0].RootKeyIDs) != 3 {
		t.Fatalf("step 3: rotation to 2-of-3: %+v", rot)
	}
	s.publish(s.path("s3b"))
	// The client that cached root v1 walks v2 and v3; the tag is still there.
	if out := s.notaryList(s.trustV1); !strings.Contains(out, "v1") {
		t.Fatalf("step 3: the v1-trusting client does not list tag v1:\n%s", out)
	}
	got, _ := testenv.ParseDockerRootKey(s.inspect())
	shown := strings.Split(got, ", ")
	slices.Sort(shown)
	want := slices.Sorted(slices.Values(rot.Repos[0].RootKeyIDs))
	if !slices.Equal(shown, want) {
		t.Fatalf("step 3: docker Root Keys %v, want %v", shown, want)
	}

	// 4. the targets key is lost: rotate targets.
	deleteKey(t, s.h, targets1)
	targets2 := s.key("targets2")
	req = s.fetch()
	s.keyriteFails(exitFailed, "root", s.path("no-root"), "rotate", "targets", "--in", req, "-o", s.path("no-root"),
		"--new-targets-key", targets2, s.gun) // no root key at hand
	s.keyrite("rotate", "targets", "--in", req, "-o", s.path("s4"), "--root-key", hA, "--root-key", hB, "--new-targets-key", targets2, s.gun)
	s.publish(s.path("s4"))
	if out := s.notaryList(s.trust); !strings.Contains(out, "v1") {
		t.Fatalf("step 4: tag v1 lost after rotating the targets key:\n%s", out)
	}
	s.ciSign("v2")
	if out := s.notaryList(s.trust); !strings.Contains(out, "v1") || !strings.Contains(out, "v2") {
		t.Fatalf("step 4: tags after new delegation signing:\n%s", out)
	}
	if got, _ := testenv.ParseDockerRepositoryKey(s.inspect()); got == init.Repos[0].TargetsKeyID {
		t.Fatalf("step 4: docker still shows the lost repository key %s", got)
	}

	// 5. refresh with a new expiry, signed by two holders one after another.
	req = s.fetch()
	s.keyriteFails(exitFailed, "six months", s.path("short"), "refresh", "--in", req, "-o", s.path("short"), "--root-key", hA, "--root-expiry", "90d", s.gun)
	s.keyrite("refresh", "--in", req, "-o", s.path("s5a"), "--root-key", hA, "--root-expiry", "5y", s.gun)
	_, stderr, code := runKeyrite(t, "publish", "--server", s.srv.URL, "--tls-ca", s.srv.CAFile, s.path("s5a"))
	if code != exitVerifyKO || !strings.Contains(stderr, "not fully signed") {
		t.Fatalf("step 5: publishing a bundle short of the threshold: exit %d\n%s", code, stderr)
	}
	if st := s.status(); st.RootVersion != 4 {
		t.Fatalf("step 5: the refused publish changed the server: root v%d", st.RootVersion)
	}
	s.keyrite("sign", s.path("s5a"), "--key", hB, "-o", s.path("s5b"))
	s.keyrite("verify", s.path("s5b"))
	s.publish(s.path("s5b"))
	st := s.status()
	if st.RootVersion != 5 || st.RootDaysLeft < 5*365-2 || st.RootDaysLeft > 5*365 {
		t.Fatalf("step 5: status after refresh: root v%d, %d days left", st.RootVersion, st.RootDaysLeft)
	}
	s.notaryList(s.trustV1)

	// A request bundle older than what this machine trusts (it pinned v5):
	// refused offline as a rollback, before any device signs.
	s.keyriteFails(exitVerifyKO, "a rollback", s.path("stale"), "refresh", "--in", s.path("request02"), "-o", s.path("stale"), "--root-key", root1, s.gun)
	// Made on another machine that trusts only what request02 shows, the
	// stale bundle is refused by publish before uploading.
	ids := requestRootKeyIDs(t, s.path("request02"), s.gun)
	s.keyrite("refresh", "--in", s.path("request02"), "-o", s.path("stale"), "--root-key", root1, "--trust-dir", s.path("other-machine"),
		"--trust-on-first-use", s.gun+"="+strings.Join(ids, ","), s.gun)
	s.keyriteFails(exitFailed, "fetch again", "", "publish", "--server", s.srv.URL, "--tls-ca", s.srv.CAFile, s.path("stale"))
	if st := s.status(); st.RootVersion != 5 {
		t.Fatalf("the stale bundle changed the server: root v%d", st.RootVersion)
	}

	// 6. signer remove ci: the last key of releases needs --force.
	req = s.fetch()
	s.keyriteFails(exitFailed, "without keys", s.path("s6-refused"), "signer", "remove", "--in", req, "-o", s.path("s6-refused"), "--targets-key", targets2, s.gun, "ci")
	s.keyrite("signer", "remove", "--in", req, "-o", s.path("s6"), "--targets-key", targets2, "--force", s.gun, "ci")
	s.publish(s.path("s6"))
	if out := s.inspect(); strings.Contains(out, "ci ") || len(testenv.ParseDockerSigners(out)) != 0 {
		t.Fatalf("step 6: docker still lists signer ci:\n%s", out)
	}
	s.notaryList(s.trust)

	// 7. snapshot key to the client: every change now carries a snapshot
	// signed by it; then back to the server.
	snap := s.key("snapshot")
	req = s.fetch()
	s.keyrite("rotate", "snapshot", "--in", req, "-o", s.path("s7a"), "--root-key", hA, "--root-key", hB, "--to", "client", "--snapshot-key", snap, s.gun)
	s.publish(s.path("s7a"))
	s.notaryList(s.trustV1)
	req = s.fetch()
	s.keyriteFails(exitFailed, "snapshot (client-managed)", s.path("s7-nosnap"), "signer", "add", "--in", req, "-o", s.path("s7-nosnap"),
		"--targets-key", targets2, s.gun, "ci", "--key", s.path("ci.pub"))
	s.keyrite("signer", "add", "--in", req, "-o", s.path("s7b"), "--targets-key", targets2, "--snapshot-key", snap, s.gun, "ci", "--key", s.path("ci.pub"))
	s.publish(s.path("s7b"))
	if _, ok := testenv.ParseDockerSigners(s.inspect())["ci"]; !ok {
		t.Fatal("step 7: signer added under a client-managed snapshot is not listed by docker")
	}
	// A threshold refresh under a client snapshot: the second holder's
	// signature changes root.json, so the snapshot is rebuilt and needs the
	// snapshot key again.
	req = s.fetch()
	s.keyrite("refresh", "--in", req, "-o", s.path("s7c"), "--root-key", hA, "--snapshot-key", snap, s.gun)
	s.keyrite("sign", s.path("s7c"), "--key", hB, "-o", s.path("s7d"))
	s.keyriteFails(exitVerifyKO, "snapshot: 0 of 1", "", "verify", s.path("s7d"))
	s.keyrite("sign", s.path("s7d"), "--key", snap, "-o", s.path("s7e"))
	s.publish(s.path("s7e"))
	req = s.fetch()
	s.keyrite("rotate", "snapshot", "--in", req, "-o", s.path("s7f"), "--root-key", hA, "--root-key", hB, "--to", "server", s.gun)
	s.publish(s.path("s7f"))
	s.ciSign("v3")
	if out := s.notaryList(s.trustV1); !strings.Contains(out, "v3") {
		t.Fatalf("step 7: delegation signing after the snapshot went back to the server:\n%s", out)
	}
}

// deleteKey destroys a key on the SoftHSM token: the "lost" targets key.
func deleteKey(t *testing.T, h *testenv.SoftHSM, uri string) {
	t.Helper()
	d := pkcs11.NewDriver()
	defer d.Close()
	u, _ := hsm.ParseURI(uri)
	b, err := d.Open(context.Background(), u, hsm.Options{Module: h.Module, PIN: hsm.PINFunc(func(context.Context, hsm.PINRequest) ([]byte, error) {
		return []byte(h.PIN), nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Delete(context.Background(), uri); err != nil {
		t.Fatal(err)
	}
}

func writeEd25519PEM(t *testing.T, path string) string {
	t.Helper()
	// An Ed25519 public key (RFC 8410 test vector), which docker cannot use.
	pem := "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"
	if err := os.WriteFile(path, []byte(pem), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// requestRootKeyIDs are the root key IDs of a GUN's current root in a
// request bundle, as an operator would read them from a record.
func requestRootKeyIDs(t *testing.T, dir, gun string) []string {
	t.Helper()
	req, err := bundle.ReadRequest(dir)
	if err != nil {
		t.Fatal(err)
	}
	var sr data.SignedRoot
	if err := json.Unmarshal(req.Metadata(gun, data.CanonicalRootRole), &sr); err != nil {
		t.Fatal(err)
	}
	return sr.Signed.Roles[data.CanonicalRootRole].KeyIDs
}
