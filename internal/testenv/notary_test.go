package testenv

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// notaryTestEnv gives the notary CLI (a judge only) its key passphrases.
var notaryTestEnv = []string{
	"NOTARY_ROOT_PASSPHRASE=root-pass-1234",
	"NOTARY_TARGETS_PASSPHRASE=targets-pass-1234",
	"NOTARY_SNAPSHOT_PASSPHRASE=snapshot-pass-1234",
	"NOTARY_DELEGATION_PASSPHRASE=delegation-pass-1234",
}

// tufKey is a TUF public key as notary serves it.
type tufKey struct {
	KeyType string `json:"keytype"`
	KeyVal  struct {
		Public  []byte  `json:"public"`
		Private *string `json:"private"`
	} `json:"keyval"`
}

// id is notary's key ID: hex SHA-256 of the key's canonical JSON. For these
// keys encoding/json already is canonical: sorted keys, no spaces, and
// base64 needs no escaping.
func (k tufKey) id(t *testing.T) string {
	t.Helper()
	canon, err := json.Marshal(map[string]any{
		"keytype": k.KeyType,
		"keyval":  map[string]any{"private": nil, "public": k.KeyVal.Public},
	})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}

type tufRoot struct {
	Signed struct {
		Keys  map[string]tufKey `json:"keys"`
		Roles map[string]struct {
			KeyIDs []string `json:"keyids"`
		} `json:"roles"`
	} `json:"signed"`
}

func notaryGet(t *testing.T, s *NotaryServer, path string, v any) {
	t.Helper()
	c, err := s.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(s.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

// TestNotaryServerJudges proves the harness and both judges (notary CLI,
// docker CLI) work against the real server without keyrite, and pins which
// key IDs docker shows.
//
// Finding: docker's "Root Key" is the key ID listed in root.json
// (roles.root.keyids, the ID of the ecdsa-x509 certificate key), NOT the
// canonical ID of the bare public key that `notary key list` shows for root.
// "Repository Key" is the targets key ID from root.json (a plain ecdsa key, so
// its root.json ID and canonical ID coincide).
func TestNotaryServerJudges(t *testing.T) {
	s := StartNotaryServer(t)
	const gun = "registry.example/keyrite/testenv"
	trustDir := t.TempDir()
	notary := func(args ...string) string {
		t.Helper()
		out, errOut, err := s.NotaryCLIEnv(notaryTestEnv, trustDir, args...)
		if err != nil {
			t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		return out
	}
	notary("init", gun)
	notary("publish", gun)
	if out := notary("list", gun); !strings.Contains(out, "No targets present") {
		t.Errorf("notary list %s: want no targets, got:\n%s", gun, out)
	}

	// `notary key list` rows: ROLE [GUN] KEY-ID LOCATION; root has no GUN.
	var canonicalRootID string
	for _, line := range strings.Split(notary("key", "list"), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "root" {
			canonicalRootID = f[1]
		}
	}
	if len(canonicalRootID) != 64 {
		t.Fatalf("no root key in notary key list (got %q)", canonicalRootID)
	}

	var root tufRoot
	notaryGet(t, s, "/v2/"+gun+"/_trust/tuf/root.json", &root)
	rootKeyIDs := root.Signed.Roles["root"].KeyIDs
	targetsKeyIDs := root.Signed.Roles["targets"].KeyIDs
	if len(rootKeyIDs) != 1 || len(targetsKeyIDs) != 1 {
		t.Fatalf("root.json roles: root %v, targets %v", rootKeyIDs, targetsKeyIDs)
	}
	rootCertID := rootKeyIDs[0]
	rootKey, ok := root.Signed.Keys[rootCertID]
	if !ok || rootKey.KeyType != "ecdsa-x509" {
		t.Fatalf("root key %s in root.json: present %v, keytype %q", rootCertID, ok, rootKey.KeyType)
	}
	if got := rootKey.id(t); got != rootCertID {
		t.Errorf("root.json key ID %s, computed %s", rootCertID, got)
	}
	// The canonical ID is the ID of the certificate's bare public key.
	block, _ := pem.Decode(rootKey.KeyVal.Public)
	if block == nil {
		t.Fatal("root key public is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != gun {
		t.Errorf("root certificate CN %q, want %q", cert.Subject.CommonName, gun)
	}
	spki, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	bare := tufKey{KeyType: "ecdsa"}
	bare.KeyVal.Public = spki
	if got := bare.id(t); got != canonicalRootID {
		t.Errorf("canonical ID of root certificate key %s, notary key list says %s", got, canonicalRootID)
	}
	if canonicalRootID == rootCertID {
		t.Fatal("root certificate ID equals canonical ID: the test cannot tell them apart")
	}

	dockerConfig := t.TempDir()
	out, err := s.DockerTrustInspect(dockerConfig, gun, true)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("docker trust inspect --pretty %s:\n%s", gun, out)
	gotRoot, err := ParseDockerRootKey(out)
	if err != nil {
		t.Fatal(err)
	}
	if gotRoot != rootCertID {
		t.Errorf("docker Root Key %s, want root.json key ID %s (canonical ID is %s)", gotRoot, rootCertID, canonicalRootID)
	}
	gotRepo, err := ParseDockerRepositoryKey(out)
	if err != nil {
		t.Fatal(err)
	}
	if gotRepo != targetsKeyIDs[0] {
		t.Errorf("docker Repository Key %s, want targets key ID %s", gotRepo, targetsKeyIDs[0])
	}
	if signers := ParseDockerSigners(out); len(signers) != 0 {
		t.Errorf("docker signers: %v, want none", signers)
	}
	if !strings.Contains(out, "No signatures for "+gun) {
		t.Errorf("docker output lacks %q", "No signatures for "+gun)
	}
	// Trust on first use: docker cached the root it saw.
	cached := filepath.Join(dockerConfig, "trust", "tuf", gun, "metadata", "root.json")
	if _, err := os.Stat(cached); err != nil {
		t.Errorf("docker trust cache: %v", err)
	}

	out, err = s.DockerTrustInspect(dockerConfig, gun, false)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	repos, err := ParseDockerTrustJSON(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 1 || repos[0].Name != gun {
		t.Fatalf("docker trust inspect JSON: %+v", repos)
	}
	admin := map[string]string{}
	for _, k := range repos[0].AdministrativeKeys {
		if len(k.Keys) == 1 {
			admin[k.Name] = k.Keys[0].ID
		}
	}
	if want := map[string]string{"Root": rootCertID, "Repository": targetsKeyIDs[0]}; !reflect.DeepEqual(admin, want) {
		t.Errorf("docker JSON administrative keys %v, want %v", admin, want)
	}

	// Once a root is stored, timestamp.key is the key root.json lists.
	var ts tufKey
	notaryGet(t, s, "/v2/"+gun+"/_trust/tuf/timestamp.key", &ts)
	if ts.KeyType == "" || len(ts.KeyVal.Public) == 0 || ts.KeyVal.Private != nil {
		t.Fatalf("timestamp.key: %+v", ts)
	}
	if got, want := ts.id(t), root.Signed.Roles["timestamp"].KeyIDs; len(want) != 1 || got != want[0] {
		t.Errorf("timestamp.key ID %s, root.json timestamp keys %v", got, want)
	}
}

func TestNotaryServerMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := StartNotaryServerDir(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "run scripts/setup") {
		t.Fatalf("want an error with a scripts/setup hint, got %v", err)
	}
}

func TestNotaryServerStop(t *testing.T) {
	s, err := StartNotaryServerDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	c, err := s.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := c.Get(s.URL + "/v2/"); err == nil {
		resp.Body.Close()
		t.Fatal("server still answers after Stop")
	}
}

// Taken from docker CLI 28.2.2 against notary-server 0.7.0 (tags v1 in
// targets/releases and v2 in targets, signer alice with two keys). The
// "alice, bob" signers on v2 and the bob row are edited in to cover lists,
// in the ", "-joined, sorted form docker/cli's trust formatter prints.
const dockerPrettyFixture = `
Signatures for registry.example/keyrite/deleg

SIGNED TAG   DIGEST                                                             SIGNERS
v1           5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03   (Repo Admin)
v2           5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03   alice, bob

List of signers and their keys for registry.example/keyrite/deleg

SIGNER    KEYS
alice     773413dcf0de, b76ad5545a0f
bob       0123456789ab

Administrative keys for registry.example/keyrite/deleg

  Repository Key:	5b16dfd868ae6a9d1e9f4c27ff8e6c9891a25bf7a0cda60af9c70b8710468f27
  Root Key:	41956ac5900ee6fac032f9bf519ff35c34120264a78126dd547c2f525a4052da
`

func TestNotaryParseDockerPretty(t *testing.T) {
	root, err := ParseDockerRootKey(dockerPrettyFixture)
	if err != nil || root != "41956ac5900ee6fac032f9bf519ff35c34120264a78126dd547c2f525a4052da" {
		t.Errorf("ParseDockerRootKey = %q, %v", root, err)
	}
	repo, err := ParseDockerRepositoryKey(dockerPrettyFixture)
	if err != nil || repo != "5b16dfd868ae6a9d1e9f4c27ff8e6c9891a25bf7a0cda60af9c70b8710468f27" {
		t.Errorf("ParseDockerRepositoryKey = %q, %v", repo, err)
	}
	wantSigners := map[string][]string{
		"alice": {"773413dcf0de", "b76ad5545a0f"},
		"bob":   {"0123456789ab"},
	}
	if got := ParseDockerSigners(dockerPrettyFixture); !reflect.DeepEqual(got, wantSigners) {
		t.Errorf("ParseDockerSigners = %v, want %v", got, wantSigners)
	}
	const digest = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
	wantTags := map[string]DockerSignedTag{
		"v1": {Digest: digest, Signers: []string{"(Repo Admin)"}},
		"v2": {Digest: digest, Signers: []string{"alice", "bob"}},
	}
	if got := ParseDockerSignedTags(dockerPrettyFixture); !reflect.DeepEqual(got, wantTags) {
		t.Errorf("ParseDockerSignedTags = %v, want %v", got, wantTags)
	}

	empty := "\nNo signatures for x\n\n\nAdministrative keys for x\n\n  Repository Key:\tab\n  Root Key:\tcd, ef\n"
	if got := ParseDockerSigners(empty); len(got) != 0 {
		t.Errorf("ParseDockerSigners(no signers) = %v", got)
	}
	if got := ParseDockerSignedTags(empty); len(got) != 0 {
		t.Errorf("ParseDockerSignedTags(no signatures) = %v", got)
	}
	if got, _ := ParseDockerRootKey(empty); got != "cd, ef" {
		t.Errorf("ParseDockerRootKey(two keys) = %q", got)
	}
	if _, err := ParseDockerRootKey("no such line"); err == nil {
		t.Error("ParseDockerRootKey without a Root Key line: no error")
	}
}
