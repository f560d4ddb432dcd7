package session

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softkey"
	"github.com/keyrite/keyrite/internal/testenv/offline"
	"github.com/keyrite/keyrite/trust"
	"github.com/keyrite/keyrite/trust/store"
)

// countingDriver counts how often a device is opened.
type countingDriver struct {
	hsm.Driver
	opens int
}

func (d *countingDriver) Open(ctx context.Context, u *hsm.URI, o hsm.Options) (hsm.Backend, error) {
	d.opens++
	return d.Driver.Open(ctx, u, o)
}

var fixed = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func testEnv(t *testing.T) (Env, *countingDriver, string) {
	t.Helper()
	d := &countingDriver{Driver: &softkey.Driver{WorkFactor: 10}}
	r := hsm.NewRegistry()
	r.Register("softkey", d)
	pin := hsm.PINFunc(func(context.Context, hsm.PINRequest) ([]byte, error) { return []byte("test passphrase"), nil })
	env := Env{Registry: r, HSM: hsm.Options{PIN: pin}, Clock: func() time.Time { return fixed }, Args: []string{"test", "--flag"}}
	token := "softkey:file=" + filepath.Join(t.TempDir(), "t.softkey")
	b, _, err := r.OpenDevice(context.Background(), token, env.HSM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Generate(context.Background(), hsm.KeySpec{Label: "root"}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	d.opens = 0
	return env, d, token
}

func TestSessionOpensEachDeviceOnceAndRecordsIt(t *testing.T) {
	env, d, token := testEnv(t)
	s := New(env, "test")
	defer s.Close()
	ctx := context.Background()
	for range 3 {
		if _, err := s.Key(ctx, token+";object=root"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Backend(ctx, token); err != nil {
		t.Fatal(err)
	}
	if d.opens != 1 || len(s.Devices()) != 1 || !s.Software() {
		t.Fatalf("opens %d, devices %v, software %v: want one open of one software device", d.opens, s.Devices(), s.Software())
	}
	if err := s.Begin(nil, map[string]any{"guns": []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.End(map[string]any{"signatures": 0}); err != nil {
		t.Fatal(err)
	}
	entries, err := bundle.VerifyTranscript(s.Transcript())
	if err != nil || len(entries) != 2 {
		t.Fatalf("transcript: %d entries, %v", len(entries), err)
	}
	var start struct {
		Args      []string        `json:"args"`
		Devices   []bundle.Device `json:"devices"`
		Rehearsal bool            `json:"rehearsal"`
		GUNs      []string        `json:"guns"`
	}
	if err := json.Unmarshal(entries[0].Data, &start); err != nil {
		t.Fatal(err)
	}
	if entries[0].Event != "ceremony.start" || entries[0].Command != "test" || !entries[0].Time.Equal(fixed) ||
		strings.Join(start.Args, " ") != "test --flag" || len(start.Devices) != 1 || !start.Rehearsal || start.GUNs[0] != "a" {
		t.Fatalf("ceremony.start records %+v at %s", start, entries[0].Time)
	}
	if entries[1].Event != "ceremony.end" {
		t.Fatalf("last line %s", entries[1].Event)
	}
}

func TestWriteSignedRemovesABundleThatDoesNotVerify(t *testing.T) {
	env, _, token := testEnv(t)
	dir := t.TempDir()
	writeRequest(t, filepath.Join(dir, "request"), "example.com/a")
	req, err := bundle.ReadRequest(filepath.Join(dir, "request"))
	if err != nil {
		t.Fatal(err)
	}
	s := New(env, "test")
	defer s.Close()
	k, err := s.Key(context.Background(), token+";object=root")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(nil, nil); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "signed")
	// Without a key to seal it, nothing is written.
	if _, err := s.WriteSigned(out, bundle.SignedInfo{Server: req.Info.Server}, bundle.Files{}, req); err == nil || !strings.Contains(err.Error(), "no key was named to seal") {
		t.Fatalf("WriteSigned without SealBy: %v", err)
	}
	if err := s.SealBy(k); err != nil {
		t.Fatal(err)
	}
	if err := s.End(nil); err != nil {
		t.Fatal(err)
	}
	// A bundle that signs nothing fails verification and is never
	// written: nothing unverified is left for the USB stick, neither in
	// place nor the copy written while it was verified, as a directory or
	// as a tar file.
	for _, out := range []string{out, out + ".tar"} {
		_, err = s.WriteSigned(out, bundle.SignedInfo{Server: req.Info.Server}, bundle.Files{}, req)
		if err == nil || !strings.Contains(err.Error(), "does not verify (nothing written)") {
			t.Fatalf("WriteSigned: %v", err)
		}
		if _, err := os.Lstat(out); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the bundle that failed verification is still there: %v", err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 || ents[0].Name() != "request" {
		t.Fatalf("left beside the request bundle: %v %v", ents, err)
	}
}

func TestRunUpdateRefusesBeforeAnyDeviceIsOpened(t *testing.T) {
	env, d, token := testEnv(t)
	dir := t.TempDir()
	writeRequest(t, filepath.Join(dir, "request"), "example.com/new")
	update := func(gun string) error {
		_, err := RunUpdate(context.Background(), env, "refresh", Update{
			UpdateOptions: UpdateOptions{Request: filepath.Join(dir, "request"), Out: filepath.Join(dir, "signed"),
				GUNs: []string{gun}, Keys: []string{token + ";object=root"}},
			Mutate: func(context.Context, *Batch, *trust.Current) (*Change, error) { return nil, errors.New("not reached") },
		})
		return err
	}
	var notReq *NotInRequestError
	if err := update("example.com/other"); !errors.As(err, &notReq) || notReq.GUN != "example.com/other" {
		t.Fatalf("a GUN the request bundle lacks: %v", err)
	}
	var notSrv *NotOnServerError
	if err := update("example.com/new"); !errors.As(err, &notSrv) {
		t.Fatalf("a GUN the server lacks: %v", err)
	}
	if d.opens != 0 {
		t.Fatalf("%d device opens before the inputs were checked", d.opens)
	}
	if err := os.Mkdir(filepath.Join(dir, "signed"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := update("example.com/new"); !errors.Is(err, os.ErrExist) {
		t.Fatalf("an existing output: %v", err)
	}
}

func TestConfirmTypedNeedsTheExactAnswer(t *testing.T) {
	c := Confirmation{Action: "reset erases every key", What: "serial", Prompt: "serial? ", Want: "7000001"}
	answer := func(s string) Env {
		return Env{Confirm: func(got Confirmation) (string, error) {
			if got != c {
				t.Fatalf("asked %+v", got)
			}
			return s, nil
		}}
	}
	var ce *ConfirmationError
	for _, typed := range []string{"7000002", "", "700000", "7000001x"} {
		if err := answer(typed).ConfirmTyped(c); !errors.As(err, &ce) {
			t.Errorf("typed %q: %v, want a refusal", typed, err)
		}
	}
	if err := (Env{}).ConfirmTyped(c); !errors.As(err, &ce) {
		t.Errorf("nobody to ask: %v, want a refusal", err)
	}
	if err := answer(" 7000001\n").ConfirmTyped(c); err != nil {
		t.Errorf("the right answer: %v", err)
	}
}

// writeExisting writes a request bundle for a GUN whose repository exists
// (root v1 made here), and returns its root key IDs.
func writeExisting(t *testing.T, dir, gun string) []string {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ids := writeExistingWith(t, dir, k, gun)
	return ids[gun]
}

// With no pin, a GUN is trusted only when the operator types its root key
// IDs back, or names them; anything else refuses it.
func TestFirstUseNeedsTheRootKeyIDs(t *testing.T) {
	const gun = "example.com/first"
	dir := filepath.Join(t.TempDir(), "request")
	ids := writeExisting(t, dir, gun)
	req, err := bundle.ReadRequest(dir)
	if err != nil {
		t.Fatal(err)
	}
	try := func(env Env) error {
		env.Clock = func() time.Time { return fixed }
		env.Trust = store.Open(filepath.Join(t.TempDir(), "trust"))
		_, err := New(env, "refresh").TrustCurrent(req, gun)
		return err
	}
	typed := func(s string) func(Confirmation) (string, error) {
		return func(c Confirmation) (string, error) {
			if !strings.Contains(c.Action, ids[0]) {
				t.Errorf("the question does not show the root key ID:\n%s", c.Action)
			}
			return s, nil
		}
	}
	if err := try(Env{Confirm: typed(ids[0][:12])}); err != nil {
		t.Errorf("typed right: %v", err)
	}
	var ce *ConfirmationError
	if err := try(Env{Confirm: typed("000000000000")}); !errors.As(err, &ce) {
		t.Errorf("typed wrong: %v", err)
	}
	var nt *NotTrustedError
	if err := try(Env{}); !errors.As(err, &nt) {
		t.Errorf("nobody to ask: %v", err)
	}
	if err := try(Env{Confirm: func(Confirmation) (string, error) { return "", errors.New("no terminal") }}); !errors.As(err, &nt) {
		t.Errorf("no terminal: %v", err)
	}
	if err := try(Env{TOFU: map[string][]string{gun: {ids[0][:12]}}}); err != nil {
		t.Errorf("named right: %v", err)
	}
	for _, given := range [][]string{{"0123456789ab"}, {ids[0][:11]}, {ids[0], ids[0]}} {
		if err := try(Env{TOFU: map[string][]string{gun: given}}); !errors.As(err, &nt) {
			t.Errorf("named %v: %v", given, err)
		}
	}
}

// writeRequest writes a request bundle for one new GUN.
func writeRequest(t *testing.T, dir, gun string) {
	t.Helper()
	if err := offline.NewRequest(dir, fixed, gun); err != nil {
		t.Fatal(err)
	}
}
