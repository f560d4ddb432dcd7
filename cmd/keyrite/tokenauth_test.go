package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/internal/testenv"
)

// TestTokenAuth runs fetch, init, publish and status against a
// notary-server configured with `auth: token` and the harness's token
// issuer: credentials from docker's config.json, from a credential helper
// on PATH, and from --auth-file; wrong credentials and missing rights are
// refused with exit 1 and a message naming the user and where its
// credentials came from; the notary CLI, with credentials of its own, lists
// the result.
func TestTokenAuth(t *testing.T) {
	const alicePW, readerPW = "alice's password", "the reader password"
	srv, iss := testenv.StartNotaryServerTokenAuth(t, map[string]testenv.TokenUser{
		"alice":  {Password: alicePW, Actions: []string{"push", "pull"}},
		"reader": {Password: readerPW, Actions: []string{"pull"}},
	})
	h := testenv.NewSoftHSM(t, "ceremony")
	dir := t.TempDir()
	host := strings.TrimPrefix(srv.URL, "https://")
	gun := "registry.example.com/auth/app"
	dev := "pkcs11:token=ceremony"
	server := []string{"--server", srv.URL, "--tls-ca", srv.CAFile}
	secrets := []string{"--pin-file", h.PINFile, "--module", h.Module}

	// docker's config.json with an auths entry, as docker login writes it
	// (legacy https:// keys match too).
	dockerCfg := filepath.Join(dir, "docker")
	writeDockerConfig(t, dockerCfg, map[string]any{"auths": map[string]any{
		"https://" + host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("alice:" + alicePW))},
	}})

	// Anonymous: the server wants a token, the issuer grants nothing.
	_, stderr, code := runKeyrite(t, append(append([]string{"fetch", "-o", filepath.Join(dir, "anon"), "--docker-config", filepath.Join(dir, "none")}, server...), gun)...)
	if code != exitFailed || !strings.Contains(stderr, "anonymously") || !strings.Contains(stderr, "keyrite: hint:") {
		t.Fatalf("anonymous fetch: exit %d\n%s", code, stderr)
	}

	req := filepath.Join(dir, "request")
	mustKeyrite(t, append(append([]string{"fetch", "-o", req, "--docker-config", dockerCfg}, server...), gun)...)
	if !askedFor(iss, "alice", "repository:"+gun+":pull,push") {
		t.Errorf("fetch did not ask the token server for push,pull on %s as alice: %+v", gun, iss.Requests())
	}

	mustKeyrite(t, append([]string{"key", "generate", "--device", dev, "--label", "root"}, secrets...)...)
	signed := filepath.Join(dir, "signed")
	mustKeyrite(t, append([]string{"init", "--in", req, "-o", signed, "--root-key", dev + ";object=root", gun}, secrets...)...)

	// A user who may only pull cannot publish: the server refuses the token.
	reader := filepath.Join(dir, "reader.auth")
	if err := os.WriteFile(reader, []byte("reader:"+readerPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runKeyrite(t, append(append([]string{"publish", "--auth-file", reader}, server...), signed)...)
	if code != exitFailed || !strings.Contains(stderr, `refused access (push,pull on `+gun+`) as "reader" (credentials from `+reader+`)`) {
		t.Fatalf("publish as reader: exit %d\n%s", code, stderr)
	}
	// Wrong password: the token server refuses, and says so.
	wrong := filepath.Join(dir, "wrong.auth")
	os.WriteFile(wrong, []byte("alice:not the password\n"), 0o600)
	_, stderr, code = runKeyrite(t, append(append([]string{"publish", "--auth-file", wrong}, server...), signed)...)
	if code != exitFailed || !strings.Contains(stderr, "the token server "+iss.Realm+" refused a token") || !strings.Contains(stderr, "HTTP 401") || strings.Contains(stderr, "not the password") {
		t.Fatalf("publish with a wrong password: exit %d\n%s", code, stderr)
	}
	// A credentials file others can read is refused before anything is sent.
	open := filepath.Join(dir, "open.auth")
	os.WriteFile(open, []byte("alice:"+alicePW+"\n"), 0o644)
	_, stderr, code = runKeyrite(t, append(append([]string{"publish", "--auth-file", open}, server...), signed)...)
	if code != exitFailed || !strings.Contains(stderr, "chmod 600") || strings.Contains(stderr, alicePW) {
		t.Fatalf("publish with a 0644 credentials file: exit %d\n%s", code, stderr)
	}

	mustKeyrite(t, append(append([]string{"publish", "--docker-config", dockerCfg}, server...), signed)...)

	// status through a credential helper on PATH, named by credHelpers.
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(bin, 0o755)
	asked := filepath.Join(dir, "helper-asked")
	helper := fmt.Sprintf(`#!/bin/sh
[ "$1" = get ] || exit 1
read -r server
printf '%%s\n' "$server" >> %q
if [ "$server" = %q ]; then
	printf '{"ServerURL":"%%s","Username":"reader","Secret":%q}\n' "$server"
else
	echo "credentials not found in native keychain"
	exit 1
fi
`, asked, host, readerPW)
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-keyritetest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	helperCfg := filepath.Join(dir, "docker-helper")
	writeDockerConfig(t, helperCfg, map[string]any{"credHelpers": map[string]string{host: "keyritetest"}})
	before := len(iss.Requests())
	var st []bundle.RepoStatus
	if err := json.Unmarshal([]byte(mustKeyrite(t, append(append([]string{"status", "--json", "--docker-config", helperCfg}, server...), gun)...)), &st); err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || !st[0].Exists || st[0].RootVersion != 1 {
		t.Fatalf("status = %+v", st)
	}
	if got, _ := os.ReadFile(asked); strings.TrimSpace(string(got)) != host {
		t.Errorf("the credential helper was asked for %q, want %q", got, host)
	}
	for _, r := range iss.Requests()[before:] {
		if r.User != "reader" || slices.ContainsFunc(r.Scopes, func(s string) bool { return strings.Contains(s, "push") }) {
			t.Errorf("status asked the token server %+v: want pull only, as reader", r)
		}
	}
	// The same helper behind credsStore serves fetch's push too little.
	storeCfg := filepath.Join(dir, "docker-store")
	writeDockerConfig(t, storeCfg, map[string]any{"credsStore": "keyritetest"})
	_, stderr, code = runKeyrite(t, append(append([]string{"fetch", "-o", filepath.Join(dir, "r2"), "--docker-config", storeCfg}, server...), gun)...)
	if code != exitFailed || !strings.Contains(stderr, "docker-credential-keyritetest") {
		t.Fatalf("fetch as reader through credsStore: exit %d\n%s", code, stderr)
	}

	// The notary CLI, with its own credentials (NOTARY_AUTH), lists it.
	env := []string{"NOTARY_AUTH=" + base64.StdEncoding.EncodeToString([]byte("reader:"+readerPW))}
	out, stderr, err := srv.NotaryCLIEnv(env, filepath.Join(dir, "notary-trust"), "list", gun)
	if err != nil || !strings.Contains(out+stderr, "No targets") {
		t.Fatalf("notary list %s: %v\n%s%s", gun, err, out, stderr)
	}
}

func writeDockerConfig(t *testing.T, dir string, cfg map[string]any) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// askedFor says whether the token server was asked for scope as user and
// granted it.
func askedFor(iss *testenv.TokenIssuer, user, scope string) bool {
	for _, r := range iss.Requests() {
		if r.User == user && slices.Contains(r.Scopes, scope) && slices.Contains(r.Granted, scope) {
			return true
		}
	}
	return false
}
