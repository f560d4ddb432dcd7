package run

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony/plan"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softkey"
)

func testEnv() session.Env {
	r := hsm.NewRegistry()
	r.Register("softkey", &softkey.Driver{WorkFactor: 10})
	return session.Env{Registry: r, Clock: time.Now, Args: []string{"test"}}
}

func writePlan(t *testing.T, dir, text string) *plan.Plan {
	t.Helper()
	file := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := plan.Read(file)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A root with threshold 2 refreshed with one key is a bundle waiting for
// a signature; the sign step adds the second after its preview, and the
// simulated server publishes only the complete bundle.
const twoHolders = `version: 1
ceremony: two-holders
operators: [op]
airgap: not-required
devices:
  a: {token: a}
  b: {yubikey: 7000001}
steps:
  - init: {guns: [example.com/run/two], root_keys: [a/root, b/9c], root_threshold: 2}
  - refresh: {guns: [example.com/run/two], root_keys: [a/root], root_expiry: 5y}
  - sign: {from_step: 2, keys: [b/9c]}
`

func TestRehearseTwoHolders(t *testing.T) {
	dir := t.TempDir()
	p := writePlan(t, dir, twoHolders)
	var said []string
	out := filepath.Join(dir, "out")
	res, err := Rehearse(context.Background(), testEnv(), Options{Plan: p, Out: out, Yes: true, Say: func(s string) { said = append(said, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 3 || !res.Rehearsal {
		t.Fatalf("result: %+v", res)
	}
	text := strings.Join(said, "\n")
	for _, want := range []string{"rehearsal: made a/root, b/9c on the software tokens",
		"step 1 of 3 (init) signs, for 1 repositories:", "root threshold 2 (of 2 keys)",
		"step 2 of 3 (refresh) signs", "root v1 -> v2",
		"step 3 of 3 (sign) signs, for 1 repositories:"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in what the operator was told:\n%s", want, text)
		}
	}
	refreshed := filepath.Join(StepDir(out, 2, "refresh"), "signed")
	var inc *verify.IncompleteError
	if _, err := verify.Dir(refreshed, time.Now(), verify.Options{}); !errors.As(err, &inc) {
		t.Errorf("the one-holder refresh: %v, want a bundle waiting for a signature", err)
	}
	signed := filepath.Join(StepDir(out, 3, "sign"), "signed")
	if _, err := verify.Dir(signed, time.Now(), verify.Options{}); err != nil {
		t.Errorf("the signed bundle: %v", err)
	}
	b, err := bundle.ReadSigned(signed)
	if err != nil || !b.Info.Rehearsal {
		t.Fatalf("signed bundle: %v, rehearsal %v", err, b != nil && b.Info.Rehearsal)
	}

	// The record: a resumed run with another plan is refused, and a
	// finished one has nothing to do.
	p2 := writePlan(t, dir, strings.Replace(twoHolders, "5y", "6y", 1))
	var re *ResumeError
	if _, err := Rehearse(context.Background(), testEnv(), Options{Plan: p2, Out: out, Yes: true, Resume: true}); !errors.As(err, &re) ||
		!strings.Contains(err.Error(), "a run resumes with the plan it started with") {
		t.Errorf("resume with another plan: %v", err)
	}
	p = writePlan(t, dir, twoHolders)
	if _, err := Rehearse(context.Background(), testEnv(), Options{Plan: p, Out: out, Yes: true, Resume: true}); !errors.As(err, &re) ||
		!strings.Contains(err.Error(), "every step is done already") {
		t.Errorf("resume of a finished run: %v", err)
	}
	// --yes is a rehearsal's only.
	if _, err := Run(context.Background(), testEnv(), Options{Plan: p, Out: filepath.Join(dir, "real"), Yes: true}); err == nil {
		t.Error("a ceremony took --yes")
	}
	if _, err := os.Stat(filepath.Join(dir, "real")); !os.IsNotExist(err) {
		t.Error("a refused run left its output directory")
	}
}

// Without a way to ask, an irreversible step is refused: nothing made,
// the record says so, and the earlier steps stay done.
func TestUnconfirmedStepStops(t *testing.T) {
	dir := t.TempDir()
	p := writePlan(t, dir, twoHolders)
	out := filepath.Join(dir, "out")
	res, err := Rehearse(context.Background(), testEnv(), Options{Plan: p, Out: out})
	var se *StepError
	var ce *session.ConfirmationError
	if !errors.As(err, &se) || se.Step != 1 || !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	if len(res.Steps) != 1 || res.Steps[0].Status != "failed" {
		t.Fatalf("steps: %+v", res.Steps)
	}
	if _, err := os.Stat(filepath.Join(StepDir(out, 1, "init"), "signed")); !os.IsNotExist(err) {
		t.Error("an unconfirmed init wrote its bundle")
	}
	rec, err := os.ReadFile(filepath.Join(out, RecordName))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := bundle.VerifyTranscript(rec)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, e := range entries {
		events = append(events, e.Event)
	}
	if got := strings.Join(events, " "); got != "ceremony.start step.start step.refused step.failed" {
		t.Errorf("record: %s", got)
	}
}

func TestFormatPreview(t *testing.T) {
	a := strings.Repeat("a1", 32)
	b := strings.Repeat("b2", 32)
	exp := [2]time.Time{time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2036, 1, 2, 0, 0, 0, 0, time.UTC)}
	text := FormatPreview(2, 3, &session.Preview{Command: "rotate-root", Repos: []session.RepoPreview{
		{GUN: "example.com/x", Root: true, RootVersion: [2]int{3, 4}, RootExpires: exp, RootThreshold: [2]int{1, 2},
			RootKeysAdded: []string{b}, RootKeysKept: []string{a}, Targets: true, TargetsVersion: [2]int{5, 6}, TargetsExpires: exp,
			DelegationsAdded: []string{"targets/ci keys 0123456789ab threshold 1"}},
	}})
	for _, want := range []string{
		"step 2 of 3 (rotate-root) signs, for 1 repositories:",
		"    K1  " + b, "    K2  " + a, "        words: ",
		"    root v3 -> v4, expires 2030-01-02 -> 2036-01-02",
		"    root threshold 1 -> 2 (of 2 keys)",
		"    + root key K1 b2b2b2b2b2b2 added",
		"    = root key K2 a1a1a1a1a1a1 kept",
		"    targets v5 -> v6",
		"    + delegation targets/ci keys 0123456789ab threshold 1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("preview lacks %q:\n%s", want, text)
		}
	}
}
