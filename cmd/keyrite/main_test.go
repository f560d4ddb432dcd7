package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"slices"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	cjson "github.com/docker/go/canonical/json"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/internal/rehearsal/cli"
	"github.com/keyrite/keyrite/internal/testenv"
	"github.com/keyrite/keyrite/trust"
)

// TestMain lets the test binary run as the keyrite and keyrite-rehearse
// commands: testscript copies it into $PATH under both names, and a
// script's exec keyrite runs Main.
func TestMain(m *testing.M) {
	testscript.Main(removingBuilds{m}, map[string]func(){
		"keyrite":          func() { os.Exit(mainWithRoots(testAttestationRoots())) },
		"keyrite-rehearse": func() { os.Exit(cli.Main()) },
	})
}

// testAttestationRoots reads the virtual YubiKeys' attestation root that
// setupScript names in PIVSIM_ROOT. Only this test binary reads it: the
// keyrite command trusts Yubico's roots alone.
func testAttestationRoots() *x509.CertPool {
	path := os.Getenv("PIVSIM_ROOT")
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "test binary: PIVSIM_ROOT: %v\n", err)
		os.Exit(1)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		fmt.Fprintf(os.Stderr, "test binary: PIVSIM_ROOT %s holds no certificate\n", path)
		os.Exit(1)
	}
	return pool
}

// TestScripts runs the transcripts in testdata. Every script gets its own
// SoftHSM token and secret files; one notary-server serves them all, so
// scripts must use GUNs no other script uses.
//
// Each script sees:
//
//	$SOFTHSM2_CONF  the script's own SoftHSM configuration
//	$TOKEN          label of its token, $TOKEN_SERIAL its serial
//	$MODULE         path of the SoftHSM2 PKCS#11 module
//	$NOTARY_URL     the shared notary-server, $NOTARY_CA its CA certificate
//	pin.txt         the token's user PIN (mode 0600), in $WORK
//	pass.txt        a softkey passphrase (mode 0600), in $WORK
//	ykpin.txt, ykpuk.txt  a PIN and PUK for virtual YubiKeys, in $WORK
//	$EXAMPLES       the repository's examples/ directory (example plans)
//	$PCSCLITE_CSOCK_NAME  the script's own pcscd, with two empty vpcd slots
//	                      (the yubikey command plugs virtual YubiKeys in)
func TestScripts(t *testing.T) {
	notary := testenv.StartNotaryServer(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			return setupScript(env, notary)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":   cmdExitCode,
			"flipbyte":   cmdFlipByte,
			"unlist":     cmdUnlist,
			"remanifest": cmdRemanifest,
			"rechain":    cmdRechain,
			"splicesigs": cmdSpliceSigs,
			"tree":       cmdTree,
			"jsonvalid":  cmdJSONValid,
			"perm":       cmdPerm,
			"hassecret":  cmdHasSecret,
			"cpdir":      cmdCpDir,
			"replace":    cmdReplace,
			"yubikey":    cmdYubiKey,
			"agekeygen":  cmdAgeKeygen,
			"sshkeygen":  cmdSSHKeygen,
			"nosecret":   cmdNoSecret,
			"setjson":    cmdSetJSON,
			"mkfifo":     cmdMkfifo,
			"sparse":     cmdSparse,
			"setlength":  cmdSetLength,
		},
	})
}

// tokenLabel is the label of every script's SoftHSM token; each script has
// its own SoftHSM configuration, so the labels never meet.
const tokenLabel = "ceremony"

func setupScript(env *testscript.Env, notary *testenv.NotaryServer) error {
	dir := filepath.Join(env.WorkDir, ".softhsm")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	hsm, err := testenv.NewSoftHSMDir(dir, tokenLabel)
	if err != nil {
		return err
	}
	if err := writeSecret(filepath.Join(env.WorkDir, "pin.txt"), hsm.PIN); err != nil {
		return err
	}
	pass := make([]byte, 16)
	if _, err := rand.Read(pass); err != nil {
		return err
	}
	if err := writeSecret(filepath.Join(env.WorkDir, "pass.txt"), hex.EncodeToString(pass)); err != nil {
		return err
	}
	env.Setenv("SOFTHSM2_CONF", hsm.ConfPath)
	env.Setenv("TOKEN", hsm.Label)
	env.Setenv("TOKEN_SERIAL", hsm.Serial)
	env.Setenv("MODULE", hsm.Module)
	env.Setenv("NOTARY_URL", notary.URL)
	env.Setenv("NOTARY_CA", notary.CAFile)
	// Each script has its own trust store.
	env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, ".config"))
	// The repository's example plans, for the ceremony scripts.
	examples, err := filepath.Abs(filepath.Join("..", "..", "examples"))
	if err != nil {
		return err
	}
	env.Setenv("EXAMPLES", examples)
	// The journal of keys being created: $WORK/.state/keyrite/journal.
	env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, ".state"))
	return setupYubiKeys(env)
}

// cmdAgeKeygen makes an age identity file NAME.key (0600) and sets $NAME
// (upper case) to its recipient, as age-keygen would:
//
//	agekeygen alice
//	agekeygen -pq bob
func cmdAgeKeygen(ts *testscript.TestScript, neg bool, args []string) {
	pq := len(args) == 2 && args[0] == "-pq"
	if pq {
		args = args[1:]
	}
	if neg || len(args) != 1 {
		ts.Fatalf("usage: agekeygen [-pq] NAME")
	}
	var id, rcpt string
	if pq {
		k, err := age.GenerateHybridIdentity()
		ts.Check(err)
		id, rcpt = k.String(), k.Recipient().String()
	} else {
		k, err := age.GenerateX25519Identity()
		ts.Check(err)
		id, rcpt = k.String(), k.Recipient().String()
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]+".key"), []byte("# public key: "+rcpt+"\n"+id+"\n"), 0o600))
	ts.Setenv(strings.ToUpper(args[0]), rcpt)
}

// cmdSSHKeygen makes an unencrypted ed25519 SSH key NAME (0600) and sets
// $NAME (upper case) to its authorized_keys line:
//
//	sshkeygen carol
func cmdSSHKeygen(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sshkeygen NAME")
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	ts.Check(err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), pem.EncodeToMemory(block), 0o600))
	signer, err := ssh.NewSignerFromKey(priv)
	ts.Check(err)
	ts.Setenv(strings.ToUpper(args[0]), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))))
}

// cmdNoSecret checks that no file under a directory contains a private
// key restored from the given shares, in any encoding the test can think
// of (raw, hex either case, base64 and base64url, PKCS#8 and SEC 1 DER):
//
//	nosecret DIR IDENTITY-FILE... -- SHARE...
func cmdNoSecret(ts *testscript.TestScript, neg bool, args []string) {
	i := slices.Index(args, "--")
	if neg || len(args) < 4 || i < 2 || i == len(args)-1 {
		ts.Fatalf("usage: nosecret DIR IDENTITY... -- SHARE...")
	}
	var ids []age.Identity
	for _, p := range args[1:i] {
		parsed, err := backup.ParseIdentities(p, []byte(ts.ReadFile(p)), nil, nil)
		ts.Check(err)
		ids = append(ids, parsed...)
	}
	var shares []*backup.Share
	for _, p := range args[i+1:] {
		f, err := backup.ParseShareFile(p, []byte(ts.ReadFile(p)))
		ts.Check(err)
		s, err := (&backup.Opener{Identities: ids}).Open(f)
		ts.Check(err)
		shares = append(shares, s)
	}
	r, err := backup.Recover(shares)
	ts.Check(err)
	needles, err := secretEncodings(r.Key)
	ts.Check(err)
	root := ts.MkAbs(args[0])
	files := 0
	ts.Check(filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for name, n := range needles {
			if bytes.Contains(b, n) {
				ts.Fatalf("%s contains the private key (%s)", p, name)
			}
		}
		return nil
	}))
	ts.Logf("nosecret: %d files, %d encodings of the key, none found", files, len(needles))
}

// cmdMkfifo makes a named pipe, which keyrite must refuse without
// blocking on it:
//
//	mkfifo pin.fifo
func cmdMkfifo(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: mkfifo PATH")
	}
	ts.Check(unix.Mkfifo(ts.MkAbs(args[0]), 0o600))
}

// cmdSparse makes (or extends) a file of SIZE bytes that takes no disk
// space, as truncate -s does:
//
//	sparse big.age 8G
func cmdSparse(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: sparse PATH SIZE (bytes, or with a K, M or G suffix)")
	}
	size, err := parseSize(args[1])
	ts.Check(err)
	f, err := os.OpenFile(ts.MkAbs(args[0]), os.O_WRONLY|os.O_CREATE, 0o600)
	ts.Check(err)
	ts.Check(f.Truncate(size))
	ts.Check(f.Close())
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult = 1 << 10
	case strings.HasSuffix(s, "M"):
		mult = 1 << 20
	case strings.HasSuffix(s, "G"):
		mult = 1 << 30
	}
	n, err := strconv.ParseInt(strings.TrimRight(s, "KMG"), 10, 64)
	return n * mult, err
}

// writeSecret creates a secret file the way keyrite wants them: new, 0600.
func writeSecret(path, secret string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cmdExitCode runs a program and checks its exact exit status:
//
//	exitcode 4 keyrite verify bad/
//
// Its stdout and stderr are kept for the stdout and stderr commands that
// follow, as with exec. testscript's ! exec only tells failure from success.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exitcode (give the expected code instead)")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode CODE program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil || want < 0 {
		ts.Fatalf("exitcode: invalid exit code %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: running %s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// cmdFlipByte inverts the lowest bit of one byte of a file, in place:
//
//	flipbyte FILE OFFSET
//
// A negative offset counts from the end of the file.
func cmdFlipByte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET")
	}
	path := ts.MkAbs(args[0])
	b, err := os.ReadFile(path)
	ts.Check(err)
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	if off < 0 {
		off += len(b)
	}
	if off < 0 || off >= len(b) {
		ts.Fatalf("flipbyte: offset %s outside %s (%d bytes)", args[1], args[0], len(b))
	}
	b[off] ^= 1
	ts.Check(os.WriteFile(path, b, 0o644))
}

// cmdUnlist removes one file's entry from a bundle's manifest.json, leaving
// the file itself in place:
//
//	unlist DIR PATH
func cmdUnlist(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: unlist BUNDLE PATH")
	}
	manPath := filepath.Join(ts.MkAbs(args[0]), bundle.ManifestName)
	var m bundle.Manifest
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(manPath)), &m))
	kept := m.Files[:0]
	for _, e := range m.Files {
		if e.Path != args[1] {
			kept = append(kept, e)
		}
	}
	if len(kept) == len(m.Files) {
		ts.Fatalf("unlist: %s is not in %s", args[1], manPath)
	}
	m.Files = kept
	out, err := json.MarshalIndent(m, "", "  ")
	ts.Check(err)
	ts.Check(os.WriteFile(manPath, append(out, '\n'), 0o644))
}

// cmdSetLength sets the length one manifest entry lists, as a forger who
// lists a file at the size it has would (without reading it: the file may
// be a sparse one of gigabytes):
//
//	setlength DIR PATH LENGTH
func cmdSetLength(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: setlength BUNDLE PATH LENGTH")
	}
	manPath := filepath.Join(ts.MkAbs(args[0]), bundle.ManifestName)
	var m bundle.Manifest
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(manPath)), &m))
	n, err := strconv.ParseInt(args[2], 10, 64)
	ts.Check(err)
	i := slices.IndexFunc(m.Files, func(e bundle.Entry) bool { return e.Path == args[1] })
	if i < 0 {
		ts.Fatalf("setlength: %s is not in %s", args[1], manPath)
	}
	m.Files[i].Length = n
	out, err := json.MarshalIndent(m, "", "  ")
	ts.Check(err)
	ts.Check(os.WriteFile(manPath, append(out, '\n'), 0o644))
}

// cmdRemanifest rewrites a bundle's manifest.json so that it matches the
// files the directory holds now, as a forger who edits a bundle would:
//
//	remanifest DIR
func cmdRemanifest(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: remanifest BUNDLE")
	}
	dir := ts.MkAbs(args[0])
	var m bundle.Manifest
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(filepath.Join(dir, bundle.ManifestName))), &m))
	files := bundle.Files{}
	ts.Check(filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == bundle.ManifestName {
			return nil
		}
		b, err := os.ReadFile(p)
		files[rel] = b
		return err
	}))
	man, err := bundle.BuildManifest(m.Kind, files)
	ts.Check(err)
	ts.Check(os.WriteFile(filepath.Join(dir, bundle.ManifestName), man, 0o644))
}

// cmdSpliceSigs replaces the signatures of a metadata file with those of
// another, keeping the file's signed part and notary's serialization:
//
//	splicesigs DST SRC
//
// It makes metadata that claims one key but is signed by another.
func cmdSpliceSigs(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: splicesigs DST SRC")
	}
	var dst, src data.Signed
	ts.Check(cjson.Unmarshal([]byte(ts.ReadFile(args[0])), &dst))
	ts.Check(cjson.Unmarshal([]byte(ts.ReadFile(args[1])), &src))
	if len(src.Signatures) == 0 {
		ts.Fatalf("splicesigs: %s has no signatures", args[1])
	}
	dst.Signatures = src.Signatures
	out, err := trust.Marshal(&dst)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), out, 0o644))
}

// cmdTree prints every file under a directory with its mode and SHA-256,
// so a script can check that a command changed nothing:
//
//	tree DIR
//	cp stdout before.txt
//	...
//	tree DIR
//	cmp stdout before.txt
//
// Further arguments name files to leave out (such as before.txt when DIR
// is the script's own directory).
func cmdTree(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: tree DIR [EXCLUDE...]")
	}
	root := ts.MkAbs(args[0])
	exclude := args[1:]
	var lines []string
	ts.Check(filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if slices.Contains(exclude, filepath.ToSlash(rel)) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		sum := "-"
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			sum = hex.EncodeToString(h[:])
		}
		lines = append(lines, fmt.Sprintf("%s %s %s", info.Mode(), filepath.ToSlash(rel), sum))
		return nil
	}))
	sort.Strings(lines)
	fmt.Fprintln(ts.Stdout(), strings.Join(lines, "\n"))
}

// cmdJSONValid checks that a file, or stdout, is one valid JSON value:
//
//	jsonvalid stdout
func cmdJSONValid(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: jsonvalid FILE|stdout|stderr")
	}
	text := ts.ReadFile(args[0])
	dec := json.NewDecoder(strings.NewReader(text))
	var v any
	err := dec.Decode(&v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	switch {
	case err != nil && !neg:
		ts.Fatalf("%s is not valid JSON: %v", args[0], err)
	case err == nil && neg:
		ts.Fatalf("%s is valid JSON", args[0])
	}
}

// cmdPerm checks a file's permission bits:
//
//	perm rehearsal.softkey 0600
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: perm FILE MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	info, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := info.Mode().Perm(); got != fs.FileMode(want) {
		ts.Fatalf("%s has mode %04o, want %04o", args[0], got, want)
	}
}

// cmdHasSecret checks whether a file, or stdout or stderr, contains the
// secret held in a secret file (its first line), without the secret ever
// appearing in the script or its log:
//
//	! hassecret signed/transcript.jsonl pin.txt
func cmdHasSecret(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: hassecret FILE|stdout|stderr SECRETFILE")
	}
	secret, _, _ := strings.Cut(ts.ReadFile(args[1]), "\n")
	if secret == "" {
		ts.Fatalf("hassecret: %s is empty", args[1])
	}
	found := strings.Contains(ts.ReadFile(args[0]), secret)
	switch {
	case found && neg:
		ts.Fatalf("%s contains the secret of %s", args[0], args[1])
	case !found && !neg:
		ts.Fatalf("%s does not contain the secret of %s", args[0], args[1])
	}
}

// cmdCpDir copies a directory tree to a new directory:
//
//	cpdir signed tampered
func cmdCpDir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cpdir SRC DST")
	}
	src, dst := ts.MkAbs(args[0]), ts.MkAbs(args[1])
	if _, err := os.Lstat(dst); err == nil {
		ts.Fatalf("cpdir: %s exists", args[1])
	}
	ts.Check(filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.Mkdir(target, info.Mode().Perm())
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("cpdir: %s is not a regular file", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	}))
}

// cmdReplace replaces the one occurrence of OLD in a file with NEW:
//
//	replace signed/transcript.jsonl ceremony.start ceremony.begin
func cmdReplace(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: replace FILE OLD NEW")
	}
	path := ts.MkAbs(args[0])
	b, err := os.ReadFile(path)
	ts.Check(err)
	if n := strings.Count(string(b), args[1]); n != 1 {
		ts.Fatalf("replace: %q occurs %d times in %s, want once", args[1], n, args[0])
	}
	ts.Check(os.WriteFile(path, []byte(strings.Replace(string(b), args[1], args[2], 1)), 0o644))
}

// cmdSetJSON sets an environment variable to a string field of the JSON
// object in a file (dotted paths reach into nested objects):
//
//	setjson out.json key_id KEYID
//	setjson out.json deleted.key_id ID
func cmdSetJSON(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: setjson FILE FIELD VAR")
	}
	var v any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &v))
	for _, name := range strings.Split(args[1], ".") {
		m, ok := v.(map[string]any)
		if !ok {
			ts.Fatalf("setjson: %s: not an object at %q", args[0], name)
		}
		v = m[name]
	}
	s, ok := v.(string)
	if !ok {
		ts.Fatalf("setjson: %s: %s is not a string", args[0], args[1])
	}
	ts.Setenv(args[2], s)
}
