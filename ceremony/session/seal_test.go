package session

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"golang.org/x/crypto/ssh"
)

// Seal signs with every key SealBy named (one public key counted once),
// only a transcript that has ended and is the one in the files; the
// ceremony.end line names the keys, and the seal verifies.
func TestSealSignsTheEndedTranscript(t *testing.T) {
	env, _, token := testEnv(t)
	wk, _, _ := ed25519.GenerateKey(rand.Reader)
	sshKey, _ := ssh.NewPublicKey(wk)
	env.Witnesses = append([]byte("alice@example.com "), ssh.MarshalAuthorizedKey(sshKey)...)
	env.PlanSHA256 = strings.Repeat("ab", 32)
	s := New(env, "test")
	defer s.Close()
	ctx := context.Background()
	k, err := s.Key(ctx, token+";object=root")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SealBy(k, k); err != nil {
		t.Fatal(err)
	}
	files := bundle.Files{bundle.TranscriptName: s.Transcript(), "record.json": []byte("{}\n")}
	if err := s.Seal(ctx, files); err == nil || !strings.Contains(err.Error(), "has not ended") {
		t.Fatalf("seal before End: %v", err)
	}
	if err := s.End(map[string]any{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(ctx, files); err == nil || !strings.Contains(err.Error(), "do not hold this session's transcript") {
		t.Fatalf("seal of another transcript: %v", err)
	}
	files[bundle.TranscriptName] = s.Transcript()
	if err := s.Seal(ctx, files); err != nil {
		t.Fatal(err)
	}
	entries, err := bundle.VerifyTranscript(files[bundle.TranscriptName])
	if err != nil {
		t.Fatal(err)
	}
	var start struct {
		Keyrite bundle.BuildFacts `json:"keyrite"`
		Host    bundle.Host       `json:"host"`
		Wit     string            `json:"witnesses"`
		Plan    string            `json:"plan_sha256"`
	}
	if err := json.Unmarshal(entries[0].Data, &start); err != nil || start.Keyrite.Go == "" || start.Host.OS == "" ||
		len(start.Host.Interfaces) == 0 || start.Wit != string(env.Witnesses) || start.Plan != env.PlanSHA256 {
		t.Fatalf("ceremony.start: %+v %v", start, err)
	}
	rep, err := verify.CheckSeal("test", files, entries)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Keys) != 1 || rep.Keys[0].Device.Kind != "softkey" || rep.Lines != 2 || rep.Files != 3 {
		t.Fatalf("seal %+v", rep)
	}
	// Witnesses that are not an allowed signers file are refused at once.
	bad := env
	bad.Witnesses = []byte("alice\n")
	if err := New(bad, "test").Begin(nil, nil); err == nil || !strings.Contains(err.Error(), "the ceremony's witnesses") {
		t.Fatalf("bad witnesses: %v", err)
	}
	// Without SealBy, nothing is sealed.
	s2 := New(env, "test")
	defer s2.Close()
	s2.Begin(nil, nil)
	s2.End(nil)
	var none *NoSealKeysError
	if err := s2.Seal(ctx, bundle.Files{bundle.TranscriptName: s2.Transcript()}); !errors.As(err, &none) {
		t.Fatalf("no seal keys: %v", err)
	}
}
