package backup

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/internal/testenv"
)

// TestAgeCLIInterop: identities made by the age v1.3 CLI (age-keygen and
// age-keygen -pq) serve as custodians, and the armored part of each share
// file decrypts with the age CLI itself — the backup does not depend on
// keyrite to be opened.
func TestAgeCLIInterop(t *testing.T) {
	ageBin := testenv.AgeTool(t, "age")
	keygen := testenv.AgeTool(t, "age-keygen")
	out, err := exec.Command(ageBin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if v := strings.TrimSpace(string(out)); !strings.HasPrefix(v, "v1.3.") {
		t.Fatalf("age --version = %s, want v1.3.x (run scripts/setup)", v)
	}
	dir := t.TempDir()
	var ps []party
	for _, c := range []struct{ name, flag string }{{"classic", ""}, {"pq", "-pq"}} {
		keyFile := filepath.Join(dir, c.name+".key")
		args := []string{"-o", keyFile}
		if c.flag != "" {
			args = append([]string{c.flag}, args...)
		}
		if out, err := exec.Command(keygen, args...).CombinedOutput(); err != nil {
			t.Fatalf("age-keygen %v: %v\n%s", args, err, out)
		}
		rcpt, err := exec.Command(keygen, "-y", keyFile).Output()
		if err != nil {
			t.Fatalf("age-keygen -y: %v", err)
		}
		data, _ := os.ReadFile(keyFile)
		ids, err := ParseIdentities(keyFile, data, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := party{c: mustCustodian(t, c.name+"="+strings.TrimSpace(string(rcpt))), ids: ids}
		if want := map[string]string{"classic": KindX25519, "pq": KindHybrid}[c.name]; p.c.Kind != want {
			t.Fatalf("%s: kind %s, want %s", c.name, p.c.Kind, want)
		}
		ps = append(ps, p)
	}
	key := newKey(t)
	b := makeBackup(t, key, ps, 2)
	var shares []*Share
	for _, p := range ps {
		text := b.Files[ShareFileName(p.c.Name)]
		armored := filepath.Join(dir, p.c.Name+".age")
		if err := os.WriteFile(armored, text[bytes.Index(text, []byte("-----BEGIN")):], 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(ageBin, "-d", "-i", filepath.Join(dir, p.c.Name+".key"), armored)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		plain, err := cmd.Output()
		if err != nil {
			t.Fatalf("age -d %s: %v\n%s", p.c.Name, err, stderr.String())
		}
		if !bytes.HasPrefix(plain, []byte(payloadMagic+"\n")) {
			t.Fatalf("age -d %s: not a share payload", p.c.Name)
		}
		parsed, err := parsePayload(plain)
		if err != nil {
			t.Fatal(err)
		}
		if parsed.Custodian != p.c.Name || parsed.KeyID != testKeyID {
			t.Fatalf("age -d %s: payload for %s / %s", p.c.Name, parsed.Custodian, parsed.KeyID)
		}
		shares = append(shares, &Share{File: armored, p: parsed})
		// The other custodian's identity does not open it.
		other := "pq"
		if p.c.Name == "pq" {
			other = "classic"
		}
		if err := exec.Command(ageBin, "-d", "-i", filepath.Join(dir, other+".key"), armored).Run(); err == nil {
			t.Fatalf("age -d opened %s's share with %s's identity", p.c.Name, other)
		}
	}
	// What the age CLI decrypted recombines into the key.
	r, err := Recover(shares)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Key.Equal(key) {
		t.Fatal("the shares age decrypted recombine into another key")
	}
}
