package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony/session"
)

// An on-device key generation leaves a key record: its transcript (device,
// serial, key ID) sealed by the new key itself, which transcript verify
// checks, and whose forgeries it refuses.
func TestKeyGenerateLeavesASealedRecord(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass.txt")
	if err := writeSecret(pass, "a rehearsal passphrase for the record"); err != nil {
		t.Fatal(err)
	}
	token := "softkey:file=" + filepath.Join(dir, "t.softkey")
	var k session.KeyDescription
	if err := json.Unmarshal([]byte(mustKeyrite(t, "key", "generate", "--device", token, "--label", "root-2026", "--pin-file", pass, "--json")), &k); err != nil {
		t.Fatal(err)
	}
	// By default, under records/ next to the trust store.
	if filepath.Dir(k.Record) != filepath.Join(filepath.Dir(testTrustDir(t)), "records") || !strings.Contains(filepath.Base(k.Record), "root-2026") {
		t.Fatalf("record at %q", k.Record)
	}
	out := mustKeyrite(t, "transcript", "verify", k.Record)
	for _, want := range []string{"key record " + k.Record, "key.generated", "key_id=" + k.CanonicalID[:16], "seal: 1 key(s)", "key " + k.CanonicalID} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript verify lacks %q:\n%s", want, out)
		}
	}
	// -o names the record; an existing one is refused before any key is made.
	rec := filepath.Join(dir, "record")
	mustKeyrite(t, "key", "generate", "--device", token, "--label", "root-2027", "--pin-file", pass, "-o", rec)
	_, stderr, code := runKeyrite(t, "key", "generate", "--device", token, "--label", "root-2028", "--pin-file", pass, "-o", rec)
	if code != exitFailed || !strings.Contains(stderr, "already exists") {
		t.Fatalf("existing record: exit %d\n%s", code, stderr)
	}
	if list := mustKeyrite(t, "key", "list", "--device", token, "--pin-file", pass); strings.Contains(list, "root-2028") {
		t.Fatalf("a key was made although its record could not be:\n%s", list)
	}

	forger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, c := range []forgery{
		{"label changed", func(t *testing.T, f bundle.Files) {
			editJSON(t, f, bundle.KeyRecordName, func(m map[string]any) { m["label"] = "root-2099" })
		}, "seal: record.json was changed after sealing"},
		{"serial changed in the transcript", func(t *testing.T, f bundle.Files) {
			rechain(t, f, func(es []bundle.TranscriptEntry) []bundle.TranscriptEntry {
				editData(t, &es[1], func(m map[string]any) { m["device"].(map[string]any)["serial"] = "12345678" })
				return es
			})
		}, "record.json does not describe the key transcript line 2 records"},
		{"resealed by another key", func(t *testing.T, f bundle.Files) { reseal(t, f, forger) }, "which transcript line 3 (ceremony.end) does not name"},
		{"the seal dropped", func(t *testing.T, f bundle.Files) { delete(f, bundle.SealName) }, "altered: no seal.json"},
	} {
		files, err := bundle.Read(rec, bundle.KindKeyRecord)
		if err != nil {
			t.Fatal(err)
		}
		c.edit(t, files)
		forged := filepath.Join(dir, "forged-"+strings.ReplaceAll(c.name, " ", "-"))
		if err := bundle.Write(forged, bundle.KindKeyRecord, files); err != nil {
			t.Fatal(err)
		}
		if _, stderr, code := runKeyrite(t, "transcript", "verify", forged); code != exitVerifyKO || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, want 4 with %q\n%s", c.name, code, c.want, stderr)
		}
	}
}

// A bundle signed again in a second ceremony (keyrite sign): the second
// ceremony's transcript continues the first and carries its seal and its
// witness, each checked against the head it signed.
func TestSealCarriedAcrossSign(t *testing.T) {
	st := &sealStory{dir: t.TempDir()}
	st.pass = filepath.Join(st.dir, "pass.txt")
	if err := writeSecret(st.pass, "a rehearsal passphrase for two holders"); err != nil {
		t.Fatal(err)
	}
	st.token = "softkey:file=" + filepath.Join(st.dir, "t.softkey")
	for _, l := range []string{"holder1", "holder2"} {
		mustKeyrite(t, "key", "generate", "--device", st.token, "--label", l, "--pin-file", st.pass)
	}
	gun := "example.com/seal/threshold"
	offlineRequest(t, filepath.Join(st.dir, "request"), gun)
	first := filepath.Join(st.dir, "first")
	mustKeyrite(t, "init", "--in", filepath.Join(st.dir, "request"), "-o", first, "--root-key", st.token+";object=holder1",
		"--root-key", st.token+";object=holder2", "--root-threshold", "2", "--pin-file", st.pass, gun)
	alice := filepath.Join(st.dir, "alice")
	runTool(t, "", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", alice)
	runTool(t, "", "ssh-keygen", "-Y", "sign", "-n", "keyrite-transcript", "-f", alice, filepath.Join(first, "transcript.head"))
	sig := filepath.Join(st.dir, "alice.sig")
	if err := os.Rename(filepath.Join(first, "transcript.head.sig"), sig); err != nil {
		t.Fatal(err)
	}
	witnessed := filepath.Join(st.dir, "first-w")
	mustKeyrite(t, "transcript", "witness", first, "--name", "alice", "--signature", sig, "-o", witnessed)

	second := filepath.Join(st.dir, "second")
	mustKeyrite(t, "sign", witnessed, "--key", st.token+";object=holder2", "--pin-file", st.pass, "-o", second)
	var au verify.Audit
	if err := json.Unmarshal([]byte(mustKeyrite(t, "transcript", "verify", "--json", second)), &au); err != nil {
		t.Fatal(err)
	}
	if len(au.Ceremonies) != 2 || len(au.Seal.Prior) != 1 || len(au.Witnesses) != 1 || au.Witnesses[0].PriorLine != au.Ceremonies[1].Line || !au.OK {
		t.Fatalf("audit: %d ceremonies, seal %+v, witnesses %+v, ok %v", len(au.Ceremonies), au.Seal, au.Witnesses, au.OK)
	}
	// init was sealed by both root keys, sign by the one key at hand.
	if len(au.Seal.Keys) != 1 || len(au.Seal.Prior[0].Keys) != 2 {
		t.Errorf("sealed by %d key(s), the init by %d", len(au.Seal.Keys), len(au.Seal.Prior[0].Keys))
	}
	// The carried seal is bound too: edited, the second seal breaks; the
	// earlier seal itself cannot be swapped for another key's.
	files, err := bundle.Read(second, bundle.KindSigned)
	if err != nil {
		t.Fatal(err)
	}
	rechain(t, files, func(es []bundle.TranscriptEntry) []bundle.TranscriptEntry {
		editData(t, &es[au.Ceremonies[1].Line-1], func(m map[string]any) { delete(m, "prior_seal") })
		return es
	})
	forged := filepath.Join(st.dir, "forged")
	if err := bundle.Write(forged, bundle.KindSigned, files); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runKeyrite(t, "verify", forged); code != exitVerifyKO || !strings.Contains(stderr, "is not the line that was sealed") {
		t.Errorf("prior seal removed: exit %d\n%s", code, stderr)
	}
}

// Without witnesses declared in the ceremony, verify checks each witness
// signature over the head, and only the auditor's allowed signers tell a
// signature filed under the wrong name.
func TestWitnessNamesNeedAllowedSigners(t *testing.T) {
	st := &sealStory{dir: t.TempDir()}
	st.pass = filepath.Join(st.dir, "pass.txt")
	if err := writeSecret(st.pass, "a rehearsal passphrase, undeclared witnesses"); err != nil {
		t.Fatal(err)
	}
	st.token = "softkey:file=" + filepath.Join(st.dir, "t.softkey")
	mustKeyrite(t, "key", "generate", "--device", st.token, "--label", "root", "--pin-file", st.pass)
	offlineRequest(t, filepath.Join(st.dir, "request"), "example.com/seal/undeclared")
	signed := filepath.Join(st.dir, "signed")
	mustKeyrite(t, "init", "--in", filepath.Join(st.dir, "request"), "-o", signed, "--root-key", st.token+";object=root", "--pin-file", st.pass, "example.com/seal/undeclared")
	alice := filepath.Join(st.dir, "alice")
	runTool(t, "", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", alice)
	alicePub, _ := os.ReadFile(alice + ".pub")
	allowed := filepath.Join(st.dir, "allowed")
	if err := os.WriteFile(allowed, []byte("alice "+string(alicePub)), 0o644); err != nil {
		t.Fatal(err)
	}
	runTool(t, "", "ssh-keygen", "-Y", "sign", "-n", "keyrite-transcript", "-f", alice, filepath.Join(signed, "transcript.head"))
	sig := filepath.Join(st.dir, "alice.sig")
	os.Rename(filepath.Join(signed, "transcript.head.sig"), sig)
	// Filed as bob's: the signature holds over the head, so verify passes;
	// the auditor's allowed signers refuse it.
	asBob := filepath.Join(st.dir, "as-bob")
	mustKeyrite(t, "transcript", "witness", signed, "--name", "bob", "--signature", sig, "-o", asBob)
	if out := mustKeyrite(t, "transcript", "verify", asBob); !strings.Contains(out, "identity not checked") {
		t.Errorf("undeclared witness:\n%s", out)
	}
	_, stderr, code := runKeyrite(t, "transcript", "verify", "--allowed-signers", allowed, asBob)
	if code != exitVerifyKO || !strings.Contains(stderr, "witness bob: signed by key SHA256:") || !strings.Contains(stderr, "name no bob") {
		t.Errorf("bob with alice's key: exit %d\n%s", code, stderr)
	}
	_, stderr, code = runKeyrite(t, "transcript", "witness", signed, "--name", "bob", "--signature", sig, "--allowed-signers", allowed, "-o", filepath.Join(st.dir, "refused"))
	if code != exitVerifyKO || !strings.Contains(stderr, "name no bob") {
		t.Errorf("witness --allowed-signers: exit %d\n%s", code, stderr)
	}
	// --plan on a ceremony that ran no plan.
	plan := filepath.Join(st.dir, "plan.yaml")
	os.WriteFile(plan, []byte("steps: []\n"), 0o644)
	_, stderr, code = runKeyrite(t, "transcript", "verify", "--plan", plan, signed)
	if code != exitVerifyKO || !strings.Contains(stderr, "no ceremony of the transcript records one") {
		t.Errorf("--plan: exit %d\n%s", code, stderr)
	}
}

// transcript print writes the ceremony record: rendered to PNG by pdftoppm
// and read back by pdftotext, it holds the steps, the transcript head and
// the key IDs in hex and in PGP words, the seal, the witness and the
// signature lines.
func TestTranscriptPrint(t *testing.T) {
	st := newSealStory(t)
	pdf := filepath.Join(st.dir, "ceremony.pdf")
	mustKeyrite(t, "transcript", "print", st.witnessed, "--allowed-signers", st.allowed, "-o", pdf)
	runTool(t, "", "pdftoppm", "-png", "-r", "50", pdf, filepath.Join(st.dir, "page"))
	pages, _ := filepath.Glob(filepath.Join(st.dir, "page*.png"))
	if len(pages) < 2 {
		t.Fatalf("pdftoppm rendered %d pages", len(pages))
	}
	text := runTool(t, "", "pdftotext", "-layout", pdf, "-")
	flat := strings.Join(strings.Fields(text), " ")
	var au verify.Audit
	if err := json.Unmarshal([]byte(mustKeyrite(t, "transcript", "verify", "--json", st.witnessed)), &au); err != nil {
		t.Fatal(err)
	}
	want := []string{"keyrite ceremony record", "REHEARSAL", au.TranscriptHead, "repo.init", "ceremony.end", "The seal",
		"alice@example.com", "bob@example.com", "Witness: alice@example.com", "Operator", "Signature", "example.com/seal/app"}
	headWords, _ := backup.WordLines(au.TranscriptHead, 8)
	want = append(want, headWords...)
	for _, k := range au.Seal.Keys {
		words, _ := backup.WordLines(k.KeyID, 8)
		want = append(want, k.KeyID, words[0], words[len(words)-1])
	}
	for _, w := range want {
		if !strings.Contains(flat, w) {
			t.Errorf("the PDF's text lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("pdftotext:\n%s", text)
	}
	// A forged bundle is not printed.
	files, _ := bundle.Read(st.witnessed, bundle.KindSigned)
	editJSON(t, files, bundle.SignedInfoName, func(m map[string]any) { m["rehearsal"] = false })
	forged := filepath.Join(st.dir, "forged")
	bundle.Write(forged, bundle.KindSigned, files)
	if _, _, code := runKeyrite(t, "transcript", "print", forged, "-o", filepath.Join(st.dir, "forged.pdf")); code != exitVerifyKO {
		t.Errorf("print of a forged bundle: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(st.dir, "forged.pdf")); !os.IsNotExist(err) {
		t.Error("a forged bundle was printed")
	}
}
