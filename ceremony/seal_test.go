package ceremony

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softkey"
	"github.com/keyrite/keyrite/trust"
)

func softEnv() session.Env {
	r := hsm.NewRegistry()
	r.Register("softkey", &softkey.Driver{WorkFactor: 10})
	pin := hsm.PINFunc(func(context.Context, hsm.PINRequest) ([]byte, error) { return []byte("test passphrase"), nil })
	return session.Env{Registry: r, HSM: hsm.Options{PIN: pin}, Args: []string{"test"}}
}

// The plan runner sets Env.PlanSHA256: each ceremony.start records it, a
// key record is sealed by the key it records, and an audit with the plan
// passes while one with another plan is refused, naming the line.
func TestPlanHashAndKeyRecordThroughTheLibrary(t *testing.T) {
	dir := t.TempDir()
	plan := []byte("ceremony: rotate 2026\nsteps: [init]\n")
	sum := sha256.Sum256(plan)
	env := softEnv()
	env.PlanSHA256 = hex.EncodeToString(sum[:])
	token := "softkey:file=" + filepath.Join(dir, "t.softkey")
	ctx := context.Background()
	k, err := GenerateKey(ctx, env, GenerateOptions{Device: token, Label: "root", Record: filepath.Join(dir, "record")})
	if err != nil {
		t.Fatal(err)
	}
	a, err := verify.AuditDir(k.Record, time.Now(), verify.AuditOptions{Options: env.VerifyOptions(), Plan: plan})
	if err != nil || a.Plan == nil || a.Plan.Line != 1 || a.Key.KeyID != k.CanonicalID {
		t.Fatalf("record audit: %+v, %v", a, err)
	}

	gun := "example.com/plan/app"
	req := filepath.Join(dir, "request")
	info := bundle.RequestInfo{Format: "keyrite-request/v1", Server: "https://notary.example:4443", FetchedAt: time.Now().UTC(),
		Repos: []bundle.RequestRepo{{GUN: gun}}}
	files := bundle.Files{}
	for _, role := range []string{"timestamp", "snapshot"} {
		sk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub, _ := trust.PublicKey(sk.Public())
		b, _ := json.Marshal(pub)
		files[bundle.RepoFile(gun, role+".key")] = b
	}
	ib, _ := json.Marshal(info)
	files[bundle.RequestInfoName] = ib
	if err := bundle.Write(req, bundle.KindRequest, files); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "signed")
	if _, err := Init(ctx, env, InitOptions{Request: req, Out: out, RootKeys: []string{k.URI}, GUNs: []string{gun},
		RootExpiry: trust.DefaultRootExpiry, TargetsExpiry: trust.DefaultTargetsExpiry}); err != nil {
		t.Fatal(err)
	}
	if _, err := verify.AuditDir(out, time.Now(), verify.AuditOptions{Options: env.VerifyOptions(), Plan: plan}); err != nil {
		t.Fatal(err)
	}
	_, err = verify.AuditDir(out, time.Now(), verify.AuditOptions{Options: env.VerifyOptions(), Plan: []byte("another plan\n")})
	var ae *verify.AuditError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "but transcript line 1 records plan "+env.PlanSHA256) {
		t.Fatalf("another plan: %v", err)
	}
}
