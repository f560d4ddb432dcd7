package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/internal/testenv"
	"github.com/keyrite/keyrite/internal/testenv/offline"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// attacker is the compromised online machine: it holds its own key and
// rewrites request bundles, rebuilding their manifests.
type attacker struct {
	t   *testing.T
	key *ecdsa.PrivateKey
	ks  *trust.KeyService
}

func newAttacker(t *testing.T) *attacker {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ks := trust.NewKeyService()
	if _, err := ks.Add(k, data.CanonicalRootRole); err != nil {
		t.Fatal(err)
	}
	return &attacker{t: t, key: k, ks: ks}
}

// doctor copies a request bundle with edit applied to its files and the
// manifest rebuilt, as the online machine can.
func (a *attacker) doctor(from, to string, edit func(f bundle.Files)) string {
	a.t.Helper()
	files, err := bundle.Read(from, bundle.KindRequest)
	if err != nil {
		a.t.Fatal(err)
	}
	edit(files)
	if err := bundle.Write(to, bundle.KindRequest, files); err != nil {
		a.t.Fatal(err)
	}
	return to
}

// foreignRoot is the current root with the attacker's certificate for the
// GUN added to the root role, re-signed by the attacker alone; bump makes
// it the next version.
func (a *attacker) foreignRoot(gun string, current []byte, bump bool) []byte {
	a.t.Helper()
	var sr data.SignedRoot
	if err := json.Unmarshal(current, &sr); err != nil {
		a.t.Fatal(err)
	}
	_, cert, err := a.ks.Certify(a.key, gun, time.Now().Add(-time.Hour), time.Now().AddDate(5, 0, 0), rand.Reader)
	if err != nil {
		a.t.Fatal(err)
	}
	sr.Signed.Keys[cert.ID()] = cert
	sr.Signed.Roles[data.CanonicalRootRole].KeyIDs = append(sr.Signed.Roles[data.CanonicalRootRole].KeyIDs, cert.ID())
	if bump {
		sr.Signed.Version++
	}
	sr.Signatures = nil
	b, err := trust.SignedRootBytes(a.ks, &sr, []data.PublicKey{cert})
	if err != nil {
		a.t.Fatal(err)
	}
	return b
}

// serverKey is a TUF public key of the attacker's, in place of a server key.
func (a *attacker) serverKey() []byte {
	a.t.Helper()
	pub, err := trust.PublicKey(a.key.Public())
	if err != nil {
		a.t.Fatal(err)
	}
	b, err := json.Marshal(pub)
	if err != nil {
		a.t.Fatal(err)
	}
	return b
}

// setInfo rewrites the request's description of a GUN.
func setInfo(t *testing.T, f bundle.Files, gun string, edit func(*bundle.RequestRepo)) {
	t.Helper()
	var info bundle.RequestInfo
	if err := json.Unmarshal(f[bundle.RequestInfoName], &info); err != nil {
		t.Fatal(err)
	}
	for i := range info.Repos {
		if info.Repos[i].GUN == gun {
			edit(&info.Repos[i])
		}
	}
	b, _ := json.Marshal(info)
	f[bundle.RequestInfoName] = b
}

// TestStoryCompromisedOnlineMachine is issue 9's attack: the online machine
// doctors the request bundle (a foreign root key, a rollback, a gap in the
// chain, swapped server keys) and every offline ceremony refuses it before
// any device is opened; the notary CLI and docker, with caches from
// before, still see only the real root key. A legitimate two-step rotation
// made on another air-gapped machine is accepted, walked or imported.
func TestStoryCompromisedOnlineMachine(t *testing.T) {
	s := &story{t: t, h: testenv.NewSoftHSM(t, "ceremony"), srv: testenv.StartNotaryServer(t), dir: t.TempDir(),
		gun: "registry.example.com/airgap/app"}
	s.trust, s.docker = s.path("notary-trust"), s.path("docker")
	root := s.key("root")
	targets2 := s.key("targets-2")
	snapKey := s.key("snapshot")
	gun := s.gun

	// v1 by init, then v2 and v3 by refresh: this machine pins each.
	s.keyrite("init", "--in", s.fetch(), "-o", s.path("v1"), "--root-key", root, gun)
	s.publish(s.path("v1"))
	s.notaryList(s.trust)
	rootKeyBefore := dockerRootKey(t, s.inspect())
	trustAtV1 := s.path("trust-at-v1")
	if err := os.CopyFS(trustAtV1, os.DirFS(testTrustDir(t))); err != nil {
		t.Fatal(err)
	}
	// A trust store is private, as keyrite writes it.
	filepath.WalkDir(trustAtV1, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			err = os.Chmod(p, 0o600)
		}
		return err
	})
	for _, v := range []string{"v2", "v3"} {
		s.keyrite("refresh", "--in", s.fetch(), "-o", s.path(v), "--root-key", root, gun)
		s.publish(s.path(v))
	}
	good := s.fetch()
	req, err := bundle.ReadRequest(good)
	if err != nil {
		t.Fatal(err)
	}
	current := req.Metadata(gun, data.CanonicalRootRole)
	if req.RootOfVersion(gun, 1) == nil || req.RootOfVersion(gun, 2) == nil {
		t.Fatal("fetch did not bring every earlier root version")
	}
	ci := s.path("ci.pub")
	ciKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	writePublicPEM(t, ci, ciKey)

	a := newAttacker(t)
	doctored := map[string]string{
		"foreign root key, same version": a.doctor(good, s.path("bad-foreign"), func(f bundle.Files) {
			f[bundle.RepoFile(gun, "root.json")] = a.foreignRoot(gun, current, false)
		}),
		"foreign root key, next version": a.doctor(good, s.path("bad-foreign-v4"), func(f bundle.Files) {
			f[bundle.RepoFile(gun, "root.json")] = a.foreignRoot(gun, current, true)
			setInfo(t, f, gun, func(r *bundle.RequestRepo) { r.RootVersion = 4 })
		}),
		"root rolled back": a.doctor(good, s.path("bad-rollback"), func(f bundle.Files) {
			f[bundle.RepoFile(gun, "root.json")] = f[bundle.RepoFile(gun, bundle.RootVersionFile(2))]
			delete(f, bundle.RepoFile(gun, bundle.RootVersionFile(2)))
			setInfo(t, f, gun, func(r *bundle.RequestRepo) { r.RootVersion = 2 })
		}),
		"timestamp key swapped": a.doctor(good, s.path("bad-tskey"), func(f bundle.Files) {
			f[bundle.RepoFile(gun, "timestamp.key")] = a.serverKey()
		}),
		"snapshot key swapped": a.doctor(good, s.path("bad-sskey"), func(f bundle.Files) {
			f[bundle.RepoFile(gun, "snapshot.key")] = a.serverKey()
		}),
	}
	// Each refusal comes before any device is opened: the PIN file does not
	// even exist, so reaching a device would fail differently.
	noPIN := s.path("no-such-pin-file")
	commands := map[string][]string{
		"refresh":           {"refresh", "--root-key", root},
		"refresh --targets": {"refresh", "--root-key", root, "--targets", "--targets-key", "pkcs11:token=ceremony;object=targets:" + gun},
		"rotate targets":    {"rotate", "targets", "--root-key", root, "--new-targets-key", targets2},
		"rotate snapshot":   {"rotate", "snapshot", "--root-key", root, "--to", "client", "--snapshot-key", snapKey},
		"signer add":        {"signer", "add", "--targets-key", "pkcs11:token=ceremony;object=targets:" + gun, "--key", ci},
	}
	for what, dir := range doctored {
		for name, cmd := range commands {
			out := s.path("out-" + strings.ReplaceAll(what+"-"+name, " ", "-"))
			args := append(append([]string{}, cmd...), "--in", dir, "-o", out, "--pin-file", noPIN, "--module", s.h.Module, gun)
			if cmd[0] == "signer" {
				args = append(args, "ci")
			}
			_, stderr, code := runKeyrite(t, args...)
			if code == 0 || strings.Contains(stderr, "no-such-pin-file") {
				t.Errorf("%s on a request with %s: exit %d, want a refusal before any device\n%s", name, what, code, stderr)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s on a request with %s left %s", name, what, out)
			}
		}
	}
	// The refusals name what is wrong.
	for what, want := range map[string]string{
		"foreign root key, same version": "the root chain breaks at version 3: the server's root version 3 is not the version 3 trusted here",
		"foreign root key, next version": "the root chain breaks at version 4: notary rejects it",
		"root rolled back":               "older than version 3 trusted here: a rollback",
		"timestamp key swapped":          "is not the key",
	} {
		_, stderr, code := runKeyrite(t, "refresh", "--in", doctored[what], "-o", s.path("named"), "--root-key", root, "--pin-file", noPIN, gun)
		if code != exitVerifyKO || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d, want 4 and %q\n%s", what, code, want, stderr)
		}
	}
	// A gap: a machine that pinned v1 is given v3 without 2.root.json.
	gap := a.doctor(good, s.path("bad-gap"), func(f bundle.Files) { delete(f, bundle.RepoFile(gun, bundle.RootVersionFile(2))) })
	_, stderr, code := runKeyrite(t, "refresh", "--trust-dir", trustAtV1, "--in", gap, "-o", s.path("gap-out"), "--root-key", root, "--pin-file", noPIN, gun)
	if code != exitVerifyKO || !strings.Contains(stderr, "breaks at version 2: the request bundle does not carry 2.root.json") {
		t.Errorf("gap: exit %d\n%s", code, stderr)
	}

	// sign, given a bundle whose carried request was doctored (both
	// manifests rebuilt), refuses too.
	s.keyrite("refresh", "--in", good, "-o", s.path("legit"), "--root-key", root, gun)
	doctorCarried(t, s.path("legit"), s.path("legit-doctored"), func(f bundle.Files) {
		f[bundle.RepoFile(gun, "root.json")] = a.foreignRoot(gun, current, false)
	})
	if _, stderr, code := runKeyrite(t, "sign", s.path("legit-doctored"), "--key", root, "-o", s.path("sign-out"), "--pin-file", noPIN); code == 0 ||
		strings.Contains(stderr, "no-such-pin-file") {
		t.Errorf("sign of a doctored bundle: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(s.path("sign-out")); !os.IsNotExist(err) {
		t.Error("sign of a doctored bundle wrote its output")
	}
	s.keyrite("trust", "forget", gun, "--keep-version", "3", "--confirm-gun", gun)

	// The notary CLI (cache from v1) and docker still see only the real key.
	s.notaryList(s.trust)
	if after := dockerRootKey(t, s.inspect()); after != rootKeyBefore {
		t.Fatalf("docker's root key changed: %s -> %s", rootKeyBefore, after)
	}

	// A legitimate two-step rotation on another air-gapped machine, which
	// starts from this machine's exported pins.
	other := s.path("other-machine")
	s.keyrite("trust", "export", "-o", s.path("trust-media"))
	s.keyrite("--trust-dir", other, "trust", "import", s.path("trust-media"))
	root2, root3 := s.key("root2"), s.key("root3")
	s.keyrite("--trust-dir", other, "rotate", "root", "--in", s.fetch(), "-o", s.path("r4"), "--root-key", root, "--new-root-key", root2, gun)
	s.publish(s.path("r4"))
	s.keyrite("--trust-dir", other, "rotate", "root", "--in", s.fetch(), "-o", s.path("r5"), "--root-key", root2, "--new-root-key", root3, gun)
	s.publish(s.path("r5"))
	// This machine (pinned at v3) walks v4 and v5 from a fresh fetch...
	walked := s.fetch()
	s.keyrite("refresh", "--in", walked, "-o", s.path("r6-walked"), "--root-key", root3, gun)
	s.keyrite("trust", "forget", gun, "--keep-version", "3", "--confirm-gun", gun)
	// ...or imports the other machine's bundles, and then trusts v5.
	s.keyrite("trust", "import", s.path("r5"))
	var pins []struct {
		GUN     string `json:"gun"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal([]byte(s.keyrite("trust", "list", "--json")), &pins); err != nil || len(pins) != 1 || pins[0].Version != 5 {
		t.Fatalf("after importing the rotation: pins %+v (%v)", pins, err)
	}
	s.keyrite("refresh", "--in", walked, "-o", s.path("r6"), "--root-key", root3, gun)
	s.publish(s.path("r6"))
	s.notaryList(s.trust)
	if after := dockerRootKey(t, s.inspect()); after == rootKeyBefore {
		t.Fatal("docker does not show the rotated root key")
	}
}

// doctorCarried copies a signed bundle with its carried request bundle's
// files edited and both manifests rebuilt.
func doctorCarried(t *testing.T, from, to string, edit func(f bundle.Files)) {
	t.Helper()
	files, err := bundle.Read(from, bundle.KindSigned)
	if err != nil {
		t.Fatal(err)
	}
	req := files.Sub("request/")
	delete(req, bundle.ManifestName)
	edit(req)
	man, err := bundle.BuildManifest(bundle.KindRequest, req)
	if err != nil {
		t.Fatal(err)
	}
	for p := range files {
		if strings.HasPrefix(p, "request/") {
			delete(files, p)
		}
	}
	for p, b := range req {
		files["request/"+p] = b
	}
	files["request/"+bundle.ManifestName] = man
	if err := bundle.Write(to, bundle.KindSigned, files); err != nil {
		t.Fatal(err)
	}
}

func dockerRootKey(t *testing.T, out string) string {
	t.Helper()
	k, err := testenv.ParseDockerRootKey(out)
	if err != nil {
		t.Fatalf("docker trust inspect: %v\n%s", err, out)
	}
	return k
}

// writePublicPEM writes a P-256 public key as docker trust key generate does.
func writePublicPEM(t *testing.T, path string, k *ecdsa.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Tampering is reported as tampering (exit 4, "altered"), never as a
// bundle waiting for signatures: bundle.json claims that the files do not
// bear out, and a carried request swapped with both manifests rebuilt.
func TestTamperingIsAltered(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass.txt")
	if err := writeSecret(pass, "a rehearsal passphrase for this test"); err != nil {
		t.Fatal(err)
	}
	token := "softkey:file=" + filepath.Join(dir, "t.softkey")
	mustKeyrite(t, "key", "generate", "--device", token, "--label", "root", "--pin-file", pass)
	guns := []string{"example.com/alter/app", "example.com/alter/web"}
	offlineRequest(t, filepath.Join(dir, "request"), guns...)
	signed := filepath.Join(dir, "signed")
	mustKeyrite(t, append([]string{"init", "--in", filepath.Join(dir, "request"), "-o", signed, "--root-key", token + ";object=root", "--pin-file", pass}, guns...)...)

	editInfo := func(edit func(*bundle.SignedInfo)) func(bundle.Files) {
		return func(f bundle.Files) {
			var info bundle.SignedInfo
			if err := json.Unmarshal(f[bundle.SignedInfoName], &info); err != nil {
				t.Fatal(err)
			}
			edit(&info)
			f[bundle.SignedInfoName], _ = json.Marshal(info)
		}
	}
	cases := map[string]struct {
		edit func(bundle.Files)
		want string
	}{
		"a GUN listed twice": {editInfo(func(i *bundle.SignedInfo) { i.Repos = append(i.Repos, i.Repos[0]) }), "lists example.com/alter/app twice"},
		"a GUN left out":     {editInfo(func(i *bundle.SignedInfo) { i.Repos = i.Repos[:1] }), "not a file bundle.json accounts for"},
		"an upload dropped":  {editInfo(func(i *bundle.SignedInfo) { i.Repos[0].Upload = []string{"root"} }), "targets.json: not a file bundle.json accounts for"},
		"an upload added": {editInfo(func(i *bundle.SignedInfo) { i.Repos[0].Upload = append(i.Repos[0].Upload, "snapshot") }),
			"example.com/alter/app: snapshot.json is missing"},
		"an expiry moved": {editInfo(func(i *bundle.SignedInfo) { i.Repos[0].RootExpires = i.Repos[0].RootExpires.AddDate(1, 0, 0) }), "altered: bundle.json says root expires"},
		"an extra file": {func(f bundle.Files) {
			f[bundle.RepoFile(guns[0], "timestamp.json")] = []byte("{}")
		}, "not a file bundle.json accounts for"},
		"the carried request swapped": {func(f bundle.Files) {
			other := filepath.Join(dir, "other-request")
			offlineRequest(t, other, guns...)
			req, err := bundle.ReadRequest(other)
			if err != nil {
				t.Fatal(err)
			}
			for p := range f {
				if strings.HasPrefix(p, "request/") {
					delete(f, p)
				}
			}
			for p, b := range req.Files {
				f["request/"+p] = b
			}
			f["request/"+bundle.ManifestName] = req.Manifest
		}, "altered: the request bundle it carries is not the one transcript line 1 records"},
	}
	for name, c := range cases {
		files, err := bundle.Read(signed, bundle.KindSigned)
		if err != nil {
			t.Fatal(err)
		}
		c.edit(files)
		doctoredDir := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := bundle.Write(doctoredDir, bundle.KindSigned, files); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runKeyrite(t, "verify", doctoredDir)
		if code != exitVerifyKO || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "not fully signed") {
			t.Errorf("%s: exit %d, want 4 with %q\n%s", name, code, c.want, stderr)
		}
		out := doctoredDir + "-signed"
		if _, _, code := runKeyrite(t, "sign", doctoredDir, "--key", token+";object=root", "--pin-file", pass, "-o", out); code != exitVerifyKO {
			t.Errorf("%s: sign exit %d, want 4", name, code)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: sign wrote %s", name, out)
		}
	}
}

// offlineRequest writes a request bundle for new GUNs with server keys
// made here: enough for init, which never talks to a server.
func offlineRequest(t *testing.T, dir string, guns ...string) {
	t.Helper()
	if err := offline.NewRequest(dir, time.Now(), guns...); err != nil {
		t.Fatal(err)
	}
}
