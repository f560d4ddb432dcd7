package sshsig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

const ns = "keyrite-transcript"

// sshKeygen runs the real ssh-keygen (openssh-client, installed by
// scripts/setup): a missing ssh-keygen is a failure, not a skip.
func sshKeygen(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Fatalf("ssh-keygen is not installed (scripts/setup installs openssh-client): %v", err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// A signature ssh-keygen made verifies here, for ed25519, ECDSA and RSA
// (rsa-sha2-512) keys; the wrong namespace, other bytes or an altered
// signature do not.
func TestVerifiesSSHKeygenSignatures(t *testing.T) {
	dir := t.TempDir()
	msg := filepath.Join(dir, "transcript.head")
	head := strings.Repeat("ab", 32) + "\n"
	if err := os.WriteFile(msg, []byte(head), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, kt := range []string{"ed25519", "ecdsa", "rsa"} {
		key := filepath.Join(dir, kt)
		if out, err := sshKeygen(t, "", "-q", "-t", kt, "-N", "", "-C", "witness", "-f", key); err != nil {
			t.Fatalf("%s: ssh-keygen: %v\n%s", kt, err, out)
		}
		if out, err := sshKeygen(t, "", "-Y", "sign", "-n", ns, "-f", key, msg); err != nil {
			t.Fatalf("%s: ssh-keygen -Y sign: %v\n%s", kt, err, out)
		}
		armored, err := os.ReadFile(msg + ".sig")
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(msg + ".sig")
		sig, err := Parse(armored)
		if err != nil {
			t.Fatalf("%s: %v", kt, err)
		}
		if err := sig.Verify(ns, []byte(head)); err != nil {
			t.Errorf("%s: %v", kt, err)
		}
		if err := sig.Verify("file", []byte(head)); err == nil || !strings.Contains(err.Error(), "namespace") {
			t.Errorf("%s: another namespace: %v", kt, err)
		}
		if err := sig.Verify(ns, []byte(strings.Repeat("cd", 32)+"\n")); err == nil {
			t.Errorf("%s: verifies over other bytes", kt)
		}
		pubText, _ := os.ReadFile(key + ".pub")
		pub, _, _, _, err := ssh.ParseAuthorizedKey(pubText)
		if err != nil {
			t.Fatal(err)
		}
		if string(pub.Marshal()) != string(sig.PublicKey.Marshal()) {
			t.Errorf("%s: the signature names another key", kt)
		}
		if kt == "rsa" && sig.Sig.Format != ssh.KeyAlgoRSASHA512 {
			t.Errorf("rsa: format %s", sig.Sig.Format)
		}
	}
}

// A signature keyrite makes with a crypto.Signer ECDSA key is accepted by
// ssh-keygen -Y verify against an allowed signers file, and refused for
// another principal or namespace.
func TestSSHKeygenVerifiesOurSignatures(t *testing.T) {
	dir := t.TempDir()
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		head := []byte(strings.Repeat("0f", 32) + "\n")
		armored, err := Sign(k, rand.Reader, ns, head)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := ssh.NewPublicKey(&k.PublicKey)
		allowed := filepath.Join(dir, "allowed_signers")
		line := `alice@example.com namespaces="keyrite-transcript" ` + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + "\n"
		if err := os.WriteFile(allowed, []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
		sigFile := filepath.Join(dir, "head.sig")
		if err := os.WriteFile(sigFile, armored, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := sshKeygen(t, string(head), "-Y", "verify", "-f", allowed, "-I", "alice@example.com", "-n", ns, "-s", sigFile)
		if err != nil || !strings.Contains(out, `Good "keyrite-transcript" signature for alice@example.com`) {
			t.Fatalf("%s: ssh-keygen -Y verify: %v\n%s", curve.Params().Name, err, out)
		}
		if out, err := sshKeygen(t, string(head), "-Y", "verify", "-f", allowed, "-I", "bob@example.com", "-n", ns, "-s", sigFile); err == nil {
			t.Errorf("ssh-keygen accepts the signature for bob:\n%s", out)
		}
		if out, err := sshKeygen(t, "other\n", "-Y", "verify", "-f", allowed, "-I", "alice@example.com", "-n", ns, "-s", sigFile); err == nil {
			t.Errorf("ssh-keygen accepts the signature over other bytes:\n%s", out)
		}
		signers, err := ParseAllowedSigners([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := Parse(armored)
		if err != nil {
			t.Fatal(err)
		}
		if err := signers.Check("alice@example.com", sig.PublicKey, ns, time.Now()); err != nil {
			t.Error(err)
		}
		if err := signers.Check("alice@example.com", sig.PublicKey, "git", time.Now()); err == nil {
			t.Error("a key allowed for keyrite-transcript only is allowed for git")
		}
		if err := signers.Check("bob@example.com", sig.PublicKey, ns, time.Now()); err == nil || !strings.Contains(err.Error(), "name no bob") {
			t.Errorf("bob: %v", err)
		}
	}
}

func TestAllowedSignersFormat(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p1, _ := ssh.NewPublicKey(&k1.PublicKey)
	p2, _ := ssh.NewPublicKey(&k2.PublicKey)
	a1 := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(p1)))
	a2 := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(p2)))
	file := "# witnesses of the 2026 ceremony\n\n" +
		"*@example.com,!mallory@example.com " + a1 + " shared key\n" +
		`"carol@example.com" valid-after="20260101",valid-before="20270101Z" ` + a2 + "\n"
	s, err := ParseAllowedSigners([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		who string
		key ssh.PublicKey
		at  time.Time
		ok  bool
	}{
		{"alice@example.com", p1, now, true},
		{"mallory@example.com", p1, now, false},
		{"alice@example.org", p1, now, false},
		{"carol@example.com", p2, now, true},
		{"carol@example.com", p2, now.AddDate(2, 0, 0), false},
		{"alice@example.com", p2, now, false},
	} {
		if err := s.Check(c.who, c.key, ns, c.at); (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok=%v", c.who, err, c.ok)
		}
	}
	for _, bad := range []string{"alice", "alice cert-authority " + a1, "alice bogus=1 " + a1, "alice ssh-ed25519 AAAA"} {
		if _, err := ParseAllowedSigners([]byte(bad + "\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
