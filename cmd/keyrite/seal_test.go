package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/crypto/ssh"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/internal/testenv"
	"github.com/keyrite/keyrite/trust"
)

// sealStory is a sealed, witnessed init on the software token: two root
// keys seal it, alice witnesses with an ed25519 key through ssh-keygen on
// "her laptop", bob with an ECDSA key on a SoftHSM token through keyrite.
type sealStory struct {
	dir, pass, token, allowed string
	signed                    string // the init's bundle
	witnessed                 string // with alice's and bob's signatures
	alice                     string // alice's private key file (ssh-keygen)
	softhsm                   *testenv.SoftHSM
}

func newSealStory(t *testing.T) *sealStory {
	t.Helper()
	st := &sealStory{dir: t.TempDir()}
	st.pass = filepath.Join(st.dir, "pass.txt")
	if err := writeSecret(st.pass, "a rehearsal passphrase for the seal"); err != nil {
		t.Fatal(err)
	}
	st.token = "softkey:file=" + filepath.Join(st.dir, "t.softkey")
	for _, l := range []string{"root", "root3"} {
		mustKeyrite(t, "key", "generate", "--device", st.token, "--label", l, "--pin-file", st.pass)
	}
	// alice's key, made by ssh-keygen; bob's on a SoftHSM token.
	st.alice = filepath.Join(st.dir, "alice")
	runTool(t, "", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", st.alice)
	alicePub, _ := os.ReadFile(st.alice + ".pub")
	st.softhsm = testenv.NewSoftHSM(t, "witness")
	var bob session.KeyDescription
	if err := json.Unmarshal([]byte(mustKeyrite(t, "key", "generate", "--device", "pkcs11:token=witness", "--label", "bob",
		"--pin-file", st.softhsm.PINFile, "--module", st.softhsm.Module, "--json")), &bob); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(bob.PublicPEM))
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	bobSSH, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	st.allowed = filepath.Join(st.dir, "allowed_signers")
	allowed := "alice@example.com namespaces=\"keyrite-transcript\" " + strings.TrimSpace(string(alicePub)) + "\n" +
		"bob@example.com " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(bobSSH))) + "\n"
	if err := os.WriteFile(st.allowed, []byte(allowed), 0o644); err != nil {
		t.Fatal(err)
	}

	guns := []string{"example.com/seal/app", "example.com/seal/web"}
	offlineRequest(t, filepath.Join(st.dir, "request"), guns...)
	st.signed = filepath.Join(st.dir, "signed")
	mustKeyrite(t, append([]string{"init", "--in", filepath.Join(st.dir, "request"), "-o", st.signed, "--witnesses", st.allowed,
		"--root-key", st.token + ";object=root", "--root-key", st.token + ";object=root3", "--pin-file", st.pass}, guns...)...)

	// alice signs transcript.head on her laptop, with ssh-keygen.
	head := filepath.Join(st.dir, "transcript.head")
	copyFile(t, filepath.Join(st.signed, "transcript.head"), head)
	runTool(t, "", "ssh-keygen", "-Y", "sign", "-n", "keyrite-transcript", "-f", st.alice, head)
	w1 := filepath.Join(st.dir, "signed-w1")
	mustKeyrite(t, "transcript", "witness", st.signed, "--name", "alice@example.com", "--signature", head+".sig", "-o", w1)
	// bob signs here, with his key on the SoftHSM token, through keyrite.
	st.witnessed = filepath.Join(st.dir, "signed-w2")
	mustKeyrite(t, "transcript", "witness", w1, "--name", "bob@example.com", "--key", "pkcs11:token=witness;object=bob",
		"--pin-file", st.softhsm.PINFile, "--module", st.softhsm.Module, "--allowed-signers", st.allowed, "-o", st.witnessed)
	return st
}

func runTool(t *testing.T, stdin, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Both witness signatures, the one ssh-keygen made and the one keyrite
// made from a SoftHSM key, are accepted by the real ssh-keygen -Y verify
// against the allowed signers file; transcript verify accepts the bundle
// and names both.
func TestSealWitnessesVerifyWithSSHKeygen(t *testing.T) {
	st := newSealStory(t)
	head, err := os.ReadFile(filepath.Join(st.witnessed, "transcript.head"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alice@example.com", "bob@example.com"} {
		out := runTool(t, string(head), "ssh-keygen", "-Y", "verify", "-f", st.allowed, "-I", name, "-n", "keyrite-transcript",
			"-s", filepath.Join(st.witnessed, "witnesses", name+".sig"))
		if !strings.Contains(out, `Good "keyrite-transcript" signature for `+name) {
			t.Errorf("ssh-keygen -Y verify %s:\n%s", name, out)
		}
	}
	out := mustKeyrite(t, "transcript", "verify", "--allowed-signers", st.allowed, st.witnessed)
	for _, want := range []string{"seal: 2 key(s)", "witness alice@example.com: ssh-ed25519 SHA256:", "witness bob@example.com: ecdsa-sha2-nistp256 SHA256:",
		"allowed by --allowed-signers line 2", "transcript verified: chain, seal, 2 witness signature(s), allowed signers", "ceremony.start", "repo.init"} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript verify lacks %q:\n%s", want, out)
		}
	}
	if out := mustKeyrite(t, "verify", st.witnessed); !strings.Contains(out, "verified") {
		t.Errorf("verify:\n%s", out)
	}
	// The bundle the witnesses signed is unchanged: a witness makes a new one.
	if _, err := os.Stat(filepath.Join(st.signed, "witnesses")); !os.IsNotExist(err) {
		t.Errorf("the witnessed bundle was modified in place: %v", err)
	}
	// A witness who has signed cannot sign again, and a name the declared
	// witnesses lack is refused.
	_, stderr, code := runKeyrite(t, "transcript", "witness", st.witnessed, "--name", "alice@example.com", "--signature",
		filepath.Join(st.witnessed, "witnesses", "alice@example.com.sig"), "-o", filepath.Join(st.dir, "again"))
	if code != exitVerifyKO || !strings.Contains(stderr, "has signed this transcript already") {
		t.Errorf("alice again: exit %d\n%s", code, stderr)
	}
	_, stderr, code = runKeyrite(t, "transcript", "witness", st.signed, "--name", "carol@example.com", "--signature",
		filepath.Join(st.witnessed, "witnesses", "alice@example.com.sig"), "-o", filepath.Join(st.dir, "carol"))
	if code != exitVerifyKO || !strings.Contains(stderr, "the allowed signers name no carol@example.com") {
		t.Errorf("carol: exit %d\n%s", code, stderr)
	}
}

// forgery edits a copy of a bundle as the online machine could: any file,
// the transcript re-chained (sequence numbers and hashes recomputed), the
// manifest rebuilt.
type forgery struct {
	name string
	edit func(t *testing.T, f bundle.Files)
	want string
}

// rechain rewrites a transcript's lines after edit, as a forger would.
func rechain(t *testing.T, f bundle.Files, edit func([]bundle.TranscriptEntry) []bundle.TranscriptEntry) {
	t.Helper()
	entries, err := bundle.VerifyTranscript(f[bundle.TranscriptName])
	if err != nil {
		t.Fatal(err)
	}
	entries = edit(entries)
	var out bytes.Buffer
	prev := strings.Repeat("0", 64)
	for i, e := range entries {
		e.Seq, e.Prev = i+1, prev
		line, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(line)
		out.WriteByte('\n')
		sum := sha256.Sum256(line)
		prev = hex.EncodeToString(sum[:])
	}
	f[bundle.TranscriptName] = out.Bytes()
	f[bundle.HeadName] = bundle.HeadFile(prev)
}

// editData changes one transcript line's data.
func editData(t *testing.T, e *bundle.TranscriptEntry, edit func(map[string]any)) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	e.Data = b
}

// reseal makes a seal as a forger with a key of their own would.
func reseal(t *testing.T, f bundle.Files, k *ecdsa.PrivateKey) {
	t.Helper()
	seal, err := bundle.NewSeal(f)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(seal.Message())
	sig, err := ecdsa.SignASN1(rand.Reader, k, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pub, _ := trust.PublicKey(&k.PublicKey)
	seal.Signatures = []bundle.SealSignature{{KeyID: pub.ID(), Algorithm: bundle.SealAlgorithm, PublicKey: base64.StdEncoding.EncodeToString(der),
		Signature: base64.StdEncoding.EncodeToString(sig), KeyURI: "softkey:file=forger;object=root", Device: bundle.Device{URI: "softkey:file=forger", Kind: "softkey"}}}
	f[bundle.SealName], err = seal.Marshal()
	if err != nil {
		t.Fatal(err)
	}
}

func editJSON(t *testing.T, f bundle.Files, name string, edit func(map[string]any)) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(f[name], &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	f[name] = append(b, '\n')
}

// Every forgery of a sealed, witnessed bundle, with the transcript
// re-chained and the manifest rebuilt, is refused by transcript verify,
// verify and publish: exit 4, naming the line, the file, the seal
// signature or the witness.
func TestSealForgeriesAreRefused(t *testing.T) {
	st := newSealStory(t)
	forger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherHead := filepath.Join(st.dir, "other.head")
	if err := os.WriteFile(otherHead, bundle.HeadFile(strings.Repeat("ab", 32)), 0o644); err != nil {
		t.Fatal(err)
	}
	runTool(t, "", "ssh-keygen", "-Y", "sign", "-n", "keyrite-transcript", "-f", st.alice, otherHead)
	otherSig, _ := os.ReadFile(otherHead + ".sig")
	last := func(es []bundle.TranscriptEntry) *bundle.TranscriptEntry { return &es[len(es)-1] }

	cases := []forgery{
		{"arguments changed", func(t *testing.T, f bundle.Files) {
			rechain(t, f, func(es []bundle.TranscriptEntry) []bundle.TranscriptEntry {
				editData(t, &es[0], func(m map[string]any) { m["args"] = []string{"init", "--root-key", "pkcs11:token=hsm;object=root"} })
				return es
			})
		}, "seal: transcript line 1 is not the line that was sealed"},
		{"a fake witness-approved line", func(t *testing.T, f bundle.Files) {
			rechain(t, f, func(es []bundle.TranscriptEntry) []bundle.TranscriptEntry {
				fake := *last(es)
				fake.Event, fake.Data = "witness.approved", json.RawMessage(`{"witness":"auditor@example.com","approved":true}`)
				return append(es[:len(es)-1:len(es)-1], fake, *last(es))
			})
		}, "is not the line that was sealed"},
		{"a line removed", func(t *testing.T, f bundle.Files) {
			rechain(t, f, func(es []bundle.TranscriptEntry) []bundle.TranscriptEntry {
				for i, e := range es {
					if e.Event == "key.origin" || e.Event == "repo.init" {
						return append(es[:i:i], es[i+1:]...)
					}
				}
				t.Fatal("no line to remove")
				return nil
			})
		}, "is not the line that was sealed"},
		{"lines reordered", func(t *testing.T, f bundle.Files) {
			rechain(t, f, func(es []bundle.TranscriptEntry) []bundle.TranscriptEntry {
				n := len(es)
				es[n-2].MonoUS, es[n-3].MonoUS = es[n-3].MonoUS, es[n-2].MonoUS
				es[n-2], es[n-3] = es[n-3], es[n-2]
				return es
			})
		}, "is not the line that was sealed"},
		{"the last line dropped", func(t *testing.T, f bundle.Files) {
			rechain(t, f, func(es []bundle.TranscriptEntry) []bundle.TranscriptEntry { return es[:len(es)-1] })
		}, "seal: the transcript ends at line"},
		{"the rehearsal flag flipped", func(t *testing.T, f bundle.Files) {
			editJSON(t, f, bundle.SignedInfoName, func(m map[string]any) { m["rehearsal"] = false })
		}, "altered: bundle.json says rehearsal false, but transcript line 1 records a software token"},
		{"bundle.json's server changed", func(t *testing.T, f bundle.Files) {
			editJSON(t, f, bundle.SignedInfoName, func(m map[string]any) { m["server"] = "https://evil.example:4443" })
		}, "signed for server https://evil.example:4443 but its request bundle came from"},
		{"the seal dropped", func(t *testing.T, f bundle.Files) { delete(f, bundle.SealName) }, "altered: no seal.json"},
		{"a seal signature removed", func(t *testing.T, f bundle.Files) {
			seal, err := bundle.ParseSeal(f[bundle.SealName])
			if err != nil {
				t.Fatal(err)
			}
			seal.Signatures = seal.Signatures[1:]
			f[bundle.SealName], _ = seal.Marshal()
		}, "names key"},
		{"seal.json edited", func(t *testing.T, f bundle.Files) {
			seal, _ := bundle.ParseSeal(f[bundle.SealName])
			seal.Files = seal.Files[1:]
			f[bundle.SealName], _ = seal.Marshal()
		}, "does not verify: seal.json was changed after it was signed"},
		{"a transcript edited and sealed by another key", func(t *testing.T, f bundle.Files) {
			pub, _ := trust.PublicKey(&forger.PublicKey)
			rechain(t, f, func(es []bundle.TranscriptEntry) []bundle.TranscriptEntry {
				editData(t, &es[0], func(m map[string]any) { m["args"] = []string{"init", "--forged"} })
				editData(t, last(es), func(m map[string]any) { m["seal_keys"] = []map[string]string{{"key_id": pub.ID()}} })
				return es
			})
			reseal(t, f, forger)
		}, "sealed the transcript but signed nothing in this bundle"},
		{"the seal replaced by another key's", func(t *testing.T, f bundle.Files) { reseal(t, f, forger) }, "which transcript line"},
		{"a file added", func(t *testing.T, f bundle.Files) { f["notes.txt"] = []byte("approved by the board\n") }, "notes.txt: not a file bundle.json accounts for"},
		{"transcript.head edited", func(t *testing.T, f bundle.Files) { f[bundle.HeadName] = bundle.HeadFile(strings.Repeat("ab", 32)) }, "transcript.head was changed after sealing"},
		{"the plan hash changed", func(t *testing.T, f bundle.Files) {
			rechain(t, f, func(es []bundle.TranscriptEntry) []bundle.TranscriptEntry {
				editData(t, &es[0], func(m map[string]any) { m["plan_sha256"] = strings.Repeat("0", 64) })
				return es
			})
		}, "seal: transcript line 1 is not the line that was sealed"},
		{"a witness signature moved to another name", func(t *testing.T, f bundle.Files) {
			f["witnesses/bob@example.com.sig"] = f["witnesses/alice@example.com.sig"]
		}, "witness bob@example.com: signed by key SHA256:"},
		{"a witness signature over another head", func(t *testing.T, f bundle.Files) {
			f["witnesses/alice@example.com.sig"] = otherSig
		}, "witness alice@example.com: the signature does not verify over the message"},
		{"a witness nobody declared", func(t *testing.T, f bundle.Files) {
			f["witnesses/mallory@example.com.sig"] = f["witnesses/alice@example.com.sig"]
		}, "witness mallory@example.com"},
	}
	for _, c := range cases {
		files, err := bundle.Read(st.witnessed, bundle.KindSigned)
		if err != nil {
			t.Fatal(err)
		}
		c.edit(t, files)
		forged := filepath.Join(st.dir, "forged-"+strings.ReplaceAll(c.name, " ", "-"))
		if err := bundle.Write(forged, bundle.KindSigned, files); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"transcript", "verify", "--allowed-signers", st.allowed, forged},
			{"verify", forged},
			{"publish", "--server", "https://notary.example:4443", forged},
		} {
			stdout, stderr, code := runKeyrite(t, args...)
			if code != exitVerifyKO || !strings.Contains(stderr, c.want) || strings.Contains(stdout, "verified") {
				t.Errorf("%s: keyrite %s: exit %d, want 4 with %q\n%s%s", c.name, args[0], code, c.want, stdout, stderr)
			}
		}
		t.Logf("%s: %s", c.name, strings.SplitN(lastError(t, forged), "\n", 2)[0])
	}
}

func lastError(t *testing.T, dir string) string {
	_, stderr, _ := runKeyrite(t, "verify", dir)
	return stderr
}

// scripts/check-seal checks a seal without keyrite (bash, jq, sha256sum,
// openssl): it accepts the sealed bundle and refuses forgeries.
func TestCheckSealScript(t *testing.T) {
	st := newSealStory(t)
	script, err := filepath.Abs("../../scripts/check-seal")
	if err != nil {
		t.Fatal(err)
	}
	if out := runTool(t, "", script, st.witnessed); !strings.Contains(out, "check-seal: OK: 4 lines and") {
		t.Errorf("check-seal:\n%s", out)
	}
	forger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, c := range []forgery{
		{"arguments changed", func(t *testing.T, f bundle.Files) {
			rechain(t, f, func(es []bundle.TranscriptEntry) []bundle.TranscriptEntry {
				editData(t, &es[0], func(m map[string]any) { m["args"] = []string{"init", "--forged"} })
				return es
			})
		}, "seals another transcript head"},
		{"a line changed, head kept", func(t *testing.T, f bundle.Files) {
			f[bundle.TranscriptName] = bytes.Replace(f[bundle.TranscriptName], []byte(`"event":"repo.init"`), []byte(`"event":"repo.INIT"`), 1)
		}, "transcript line 2 is not the line that was sealed"},
		{"rehearsal flipped", func(t *testing.T, f bundle.Files) {
			editJSON(t, f, bundle.SignedInfoName, func(m map[string]any) { m["rehearsal"] = false })
		}, "files changed or missing since the seal"},
		{"a file added", func(t *testing.T, f bundle.Files) { f["notes.txt"] = []byte("ok\n") }, "files added after the seal: notes.txt"},
		{"resealed by another key", func(t *testing.T, f bundle.Files) { reseal(t, f, forger) }, "not those the last line (ceremony.end) names"},
		{"seal.json edited", func(t *testing.T, f bundle.Files) {
			seal, _ := bundle.ParseSeal(f[bundle.SealName])
			seal.Signatures[0].Signature = seal.Signatures[1].Signature
			f[bundle.SealName], _ = seal.Marshal()
		}, "signature 1"},
	} {
		files, err := bundle.Read(st.witnessed, bundle.KindSigned)
		if err != nil {
			t.Fatal(err)
		}
		c.edit(t, files)
		forged := filepath.Join(st.dir, "script-"+strings.ReplaceAll(c.name, " ", "-"))
		if err := bundle.Write(forged, bundle.KindSigned, files); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(script, forged).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%s: check-seal %v, want %q\n%s", c.name, err, c.want, out)
		}
	}
}

// cmdRechain recomputes a bundle's transcript chain (sequence numbers,
// hashes) and transcript.head after an edit, as a forger would; run
// remanifest after it:
//
//	rechain DIR
func cmdRechain(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: rechain BUNDLE")
	}
	dir := ts.MkAbs(args[0])
	var out bytes.Buffer
	prev := strings.Repeat("0", 64)
	for i, line := range strings.Split(strings.TrimSuffix(ts.ReadFile(filepath.Join(dir, bundle.TranscriptName)), "\n"), "\n") {
		var e bundle.TranscriptEntry
		ts.Check(json.Unmarshal([]byte(line), &e))
		e.Seq, e.Prev = i+1, prev
		b, err := json.Marshal(e)
		ts.Check(err)
		out.Write(b)
		out.WriteByte('\n')
		sum := sha256.Sum256(b)
		prev = hex.EncodeToString(sum[:])
	}
	ts.Check(os.WriteFile(filepath.Join(dir, bundle.TranscriptName), out.Bytes(), 0o644))
	ts.Check(os.WriteFile(filepath.Join(dir, bundle.HeadName), bundle.HeadFile(prev), 0o644))
}
