package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/internal/testenv"
	"github.com/keyrite/keyrite/recovery"
)

// TestRecoveryStory is the backed-up key's whole life on real components:
// generated in memory and split 2-of-3 among an X25519, a post-quantum and
// an SSH custodian; imported into a SoftHSM token and the software token;
// root of a new repository published to notary-server and judged by the
// notary CLI and docker. Then both devices are lost, the key is restored
// from two custodians' shares into a fresh token, the repository's root is
// refreshed with it and published, and the notary CLI and docker — holding
// their trust from before the loss — accept it, under the same root key ID.
// No file keyrite wrote, temporary ones included, holds the private key.
//
// (The YubiKey backend is being built on another branch; once it lands, the
// same test should import into its virtual YubiKey as well.)
func TestRecoveryStory(t *testing.T) {
	h := testenv.NewSoftHSM(t, "ceremony")
	srv := testenv.StartNotaryServer(t)
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	// Anything keyrite writes to a temporary directory lands where the
	// hygiene check at the end looks.
	t.Setenv("TMPDIR", tmp)
	p := func(name string) string { return filepath.Join(dir, name) }
	gun := "registry.example.com/recovery/app"
	// One secret for every device these commands use, each device named:
	// keyrite never tries one device's PIN on another.
	with := func(pin string, args ...string) []string {
		for _, dev := range []string{"pkcs11:token=ceremony", "pkcs11:token=replacement", "softkey:file=" + p("soft.softkey"), "softkey:file=" + p("targets.softkey")} {
			args = append(args, "--pin-file", dev+"="+pin)
		}
		return append(args, "--module", h.Module)
	}

	// Custodians.
	alice, _ := age.GenerateX25519Identity()
	bob, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	_, carolKey, _ := ed25519.GenerateKey(rand.Reader)
	carolPEM, _ := ssh.MarshalPrivateKey(carolKey, "")
	carolSigner, _ := ssh.NewSignerFromKey(carolKey)
	writeFile(t, p("alice.key"), alice.String()+"\n")
	writeFile(t, p("bob.key"), bob.String()+"\n")
	writeFile(t, p("carol_ed25519"), string(pem.EncodeToMemory(carolPEM)))
	carolPub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(carolSigner.PublicKey())))

	// 1. The key is born in memory, backed up, then imported into both
	//    devices. (The token's PIN is the softkey file's passphrase.)
	var gen ceremony.BackedUpResult
	out := mustKeyrite(t, with(h.PINFile, "key", "generate", "--mode", "backed-up", "--label", "root",
		"--device", "pkcs11:token=ceremony", "--device", "softkey:file="+p("soft.softkey"),
		"--custodian", "alice="+alice.Recipient().String(), "--custodian", "bob="+bob.Recipient().String(),
		"--custodian", "carol="+carolPub, "--threshold", "2", "-o", p("backup"), "--json")...)
	if err := json.Unmarshal([]byte(out), &gen); err != nil {
		t.Fatal(err)
	}
	if len(gen.Imported) != 2 || gen.Check.Subsets != 3 || len(gen.Entropy) != 2 {
		t.Fatalf("generate: %+v", gen)
	}
	keyID := gen.CanonicalID

	// 2. A new repository with that root key; the targets key lives on a
	//    device of its own, so losing the root's devices loses only root.
	mustKeyrite(t, with(h.PINFile, "fetch", "--server", srv.URL, "--tls-ca", srv.CAFile, "-o", p("request1"), gun)...)
	var init ceremony.InitResult
	out = mustKeyrite(t, with(h.PINFile, "init", "--in", p("request1"), "-o", p("signed1"), "--root-key", "pkcs11:token=ceremony;object=root",
		"--targets-device", "softkey:file="+p("targets.softkey"), "--json", gun)...)
	if err := json.Unmarshal([]byte(out), &init); err != nil {
		t.Fatal(err)
	}
	if init.Repos[0].RootCanonicalIDs[0] != keyID {
		t.Fatalf("init used root key %s, generate made %s", init.Repos[0].RootCanonicalIDs[0], keyID)
	}
	rootKeyID := init.Repos[0].RootKeyIDs[0]
	mustKeyrite(t, with(h.PINFile, "publish", "--server", srv.URL, "--tls-ca", srv.CAFile, p("signed1"))...)
	trustDir, dockerCfg := p("notary-trust"), p("docker")
	judge := func(step string) {
		t.Helper()
		if _, stderr, err := srv.NotaryCLI(trustDir, "list", gun); err != nil {
			t.Fatalf("%s: notary list: %v\n%s", step, err, stderr)
		}
		pretty, err := srv.DockerTrustInspect(dockerCfg, gun, true)
		if err != nil {
			t.Fatalf("%s: docker trust inspect: %v\n%s", step, err, pretty)
		}
		if got, err := testenv.ParseDockerRootKey(pretty); err != nil || got != rootKeyID {
			t.Fatalf("%s: docker shows Root Key %q (%v), want %s", step, got, err, rootKeyID)
		}
	}
	judge("after init")

	// The backup proves itself against the published root.
	mustKeyrite(t, "backup", "verify", "-i", p("alice.key"), "-i", p("bob.key"), "--record", p("backup/backup.json"),
		"--root", p("signed1/"+bundle.RepoFile(gun, "root.json")), p("backup/alice.share.age"), p("backup/bob.share.age"))

	// 3. Both devices are lost.
	cmd := exec.Command("softhsm2-util", "--delete-token", "--token", "ceremony")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --delete-token: %v\n%s", err, out)
	}
	if err := os.Remove(p("soft.softkey")); err != nil {
		t.Fatal(err)
	}
	if _, _, code := runKeyrite(t, with(h.PINFile, "key", "list", "--device", "pkcs11:token=ceremony")...); code != exitDevice {
		t.Fatalf("the lost token still answers (exit %d)", code)
	}

	// 4. Bob and Carol restore the key into a fresh token.
	fresh := h.AddToken("replacement")
	var rest recovery.RestoreResult
	out = mustKeyrite(t, with(fresh.PINFile, "recover", "restore", "--to", "pkcs11:token=replacement", "-o", p("record"),
		"-i", p("bob.key"), "-i", p("carol_ed25519"), "--json", p("backup/bob.share.age"), p("backup/carol.share.age"))...)
	if err := json.Unmarshal([]byte(out), &rest); err != nil {
		t.Fatal(err)
	}
	if rest.CanonicalID != keyID || rest.Label != "root" || !strings.HasPrefix(rest.URI, "pkcs11:token=replacement;") {
		t.Fatalf("restore: %+v", rest)
	}

	// 5. The restored device refreshes the repository's root.
	mustKeyrite(t, with(fresh.PINFile, "fetch", "--server", srv.URL, "--tls-ca", srv.CAFile, "-o", p("request2"), gun)...)
	mustKeyrite(t, with(fresh.PINFile, "refresh", "--in", p("request2"), "-o", p("signed2"), "--root-key", "pkcs11:token=replacement;object=root", "--root-expiry", "5y", gun)...)
	mustKeyrite(t, "verify", p("signed2"))
	mustKeyrite(t, with(fresh.PINFile, "publish", "--server", srv.URL, "--tls-ca", srv.CAFile, p("signed2"))...)
	var st []bundle.RepoStatus
	if err := json.Unmarshal([]byte(mustKeyrite(t, "status", "--server", srv.URL, "--tls-ca", srv.CAFile, "--json", gun)), &st); err != nil {
		t.Fatal(err)
	}
	if st[0].RootVersion != 2 {
		t.Fatalf("root version after refresh: %d", st[0].RootVersion)
	}
	// The notary CLI and docker, with their trust from before the loss,
	// accept the refreshed root: same root key ID.
	judge("after restore and refresh")

	// 6. Secret hygiene: no file keyrite wrote holds the key.
	f1, _ := backup.ParseShareFile("a", readFile(t, p("backup/alice.share.age")))
	f2, _ := backup.ParseShareFile("b", readFile(t, p("backup/bob.share.age")))
	o := &backup.Opener{Identities: []age.Identity{alice, bob}}
	s1, err := o.Open(f1)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := o.Open(f2)
	if err != nil {
		t.Fatal(err)
	}
	r, err := backup.Recover([]*backup.Share{s1, s2})
	if err != nil {
		t.Fatal(err)
	}
	needles, err := secretEncodings(r.Key)
	if err != nil {
		t.Fatal(err)
	}
	scanned := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// SoftHSM's own token files are the device, not keyrite's output.
		if d.IsDir() && path == h.TokenDir {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		scanned++
		for name, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s holds the private key (%s)", path, name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < 20 {
		t.Fatalf("the hygiene check saw only %d files", scanned)
	}
	t.Logf("hygiene: %d files keyrite wrote or used, %d encodings of the key, none found", scanned, len(needles))
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
