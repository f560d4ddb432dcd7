package session

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/hsm"
)

// interruptedRun creates the keys labelled created (announced, then made
// and recorded), made (announced and made, killed before the record) and
// announced (announced only), then stops as a killed run would: its
// journal stays.
func interruptedRun(t *testing.T, env Env, device, out string, created, made, announced []string) {
	t.Helper()
	ctx := context.Background()
	s := New(env, "init")
	s.JournalFor(out, "")
	b, err := s.Backend(ctx, device)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range append(append(slices.Clone(created), made...), announced...) {
		if err := s.Creating(b, l, "", "targets key of "+l); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(announced, l) {
			continue
		}
		k, err := b.Generate(ctx, hsm.KeySpec{Label: l})
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(created, l) {
			if err := s.Created(b, l, k); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.Close()
}

func labels(t *testing.T, env Env, device string) []string {
	t.Helper()
	b, _, err := env.Registry.OpenDevice(context.Background(), device, env.HSM)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	keys, err := b.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		out = append(out, k.Label)
	}
	slices.Sort(out)
	return out
}

func journalFiles(t *testing.T, dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Name()+"\n"+string(b))
	}
	return out
}

// answer is a Confirm that types a, counting the questions.
func answer(a string, asked *int, question *string) func(Confirmation) (string, error) {
	return func(c Confirmation) (string, error) {
		*asked++
		*question = c.Action + "\n" + c.Prompt
		return a, nil
	}
}

func leftoverEvent(t *testing.T, s *Session) map[string]json.RawMessage {
	t.Helper()
	entries, err := bundle.VerifyTranscript(s.Transcript())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Event == "leftovers" {
			var m map[string]json.RawMessage
			json.Unmarshal(e.Data, &m)
			return m
		}
	}
	t.Fatal("no leftovers event in the transcript")
	return nil
}

func TestLeftoversRemove(t *testing.T) {
	env, _, token := testEnv(t)
	env.Journal = filepath.Join(t.TempDir(), "journal")
	interruptedRun(t, env, token, "", []string{"targets:a"}, []string{"targets:b"}, []string{"targets:c"})
	if got := labels(t, env, token); !slices.Equal(got, []string{"root", "targets:a", "targets:b"}) {
		t.Fatalf("after the kill: %v", got)
	}

	var asked int
	var q string
	env.Confirm = answer("remove", &asked, &q)
	s := New(env, "init")
	defer s.Close()
	b, err := s.Backend(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	reused, err := s.Leftovers(context.Background(), []hsm.Backend{b}, func(Leftover) bool { return true })
	if err != nil || len(reused) != 0 {
		t.Fatalf("%v %v", reused, err)
	}
	if asked != 1 || !strings.Contains(q, "left 2 key(s)") || !strings.Contains(q, `label "targets:a"`) ||
		!strings.Contains(q, `label "targets:b"`) || strings.Contains(q, "targets:c") || !strings.Contains(q, "resume reuses it") ||
		!strings.Contains(q, "Type remove to destroy them, resume to reuse") {
		t.Errorf("asked %d times:\n%s", asked, q)
	}
	if got := labels(t, env, token); !slices.Equal(got, []string{"root"}) {
		t.Errorf("after remove: %v", got)
	}
	if got := journalFiles(t, env.Journal); len(got) != 0 {
		t.Errorf("journal left: %v", got)
	}
	// Recorded once the transcript begins.
	if err := s.Begin(nil, nil); err != nil {
		t.Fatal(err)
	}
	ev := leftoverEvent(t, s)
	if string(ev["decision"]) != `"remove"` || string(ev["answered"]) != `"typed"` || !strings.Contains(string(ev["keys"]), "targets:b") ||
		!strings.Contains(string(ev["released"]), "targets:c") {
		t.Errorf("event: %s", ev)
	}
}

func TestLeftoversDeclinedChangesNothing(t *testing.T) {
	env, _, token := testEnv(t)
	env.Journal = filepath.Join(t.TempDir(), "journal")
	interruptedRun(t, env, token, "", []string{"targets:a", "targets:b"}, nil, []string{"targets:never"})
	before := journalFiles(t, env.Journal)
	for _, c := range []struct {
		confirm func(Confirmation) (string, error)
		want    string
	}{
		{func(Confirmation) (string, error) { return "no", nil }, `(answer "no")`},
		{func(Confirmation) (string, error) { return "", errors.New("no terminal") }, "could not be asked: no terminal"},
		{nil, "could not be asked"},
	} {
		env.Confirm = c.confirm
		s := New(env, "init")
		b, _ := s.Backend(context.Background(), token)
		_, err := s.Leftovers(context.Background(), []hsm.Backend{b}, nil)
		s.Close()
		var le *LeftoversError
		if !errors.As(err, &le) || len(le.Leftovers) != 2 || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%v", err)
		}
		if got := labels(t, env, token); !slices.Equal(got, []string{"root", "targets:a", "targets:b"}) {
			t.Errorf("declined, yet the device changed: %v", got)
		}
		if after := journalFiles(t, env.Journal); !slices.Equal(before, after) {
			t.Errorf("declined, yet the journal changed:\n%v\n%v", before, after)
		}
	}
	// "resume" is no answer when nothing can be reused.
	env.Confirm = func(Confirmation) (string, error) { return "resume", nil }
	s := New(env, "init")
	b, _ := s.Backend(context.Background(), token)
	_, err := s.Leftovers(context.Background(), []hsm.Backend{b}, nil)
	s.Close()
	var le *LeftoversError
	if !errors.As(err, &le) {
		t.Fatalf("resume with nothing reusable: %v", err)
	}
}

func TestLeftoversResume(t *testing.T) {
	env, _, token := testEnv(t)
	env.Journal = filepath.Join(t.TempDir(), "journal")
	interruptedRun(t, env, token, "", []string{"targets:a"}, []string{"targets:b"}, nil)
	env.Leftovers = LeftoversResume
	env.Confirm = nil // answered in advance: never asked
	s := New(env, "init")
	b, _ := s.Backend(context.Background(), token)
	reused, err := s.Leftovers(context.Background(), []hsm.Backend{b}, func(l Leftover) bool { return l.Label == "targets:a" })
	if err != nil {
		t.Fatal(err)
	}
	if len(reused) != 1 || reused["targets:a"].URI == "" || reused["targets:a"].KeyID == "" {
		t.Fatalf("reused: %+v", reused)
	}
	if got := labels(t, env, token); !slices.Equal(got, []string{"root", "targets:a"}) {
		t.Errorf("after resume: %v (the key not reused is destroyed)", got)
	}
	// This run's journal answers for the reused key now; the old one is gone.
	files := journalFiles(t, env.Journal)
	if len(files) != 1 || !strings.Contains(files[0], `"op":"created"`) || !strings.Contains(files[0], "targets:a") {
		t.Fatalf("journal: %v", files)
	}
	if err := s.Keep(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := journalFiles(t, env.Journal); len(got) != 0 {
		t.Errorf("journal after Keep: %v", got)
	}
}

func TestLeftoversGoneOtherDeviceFinishedOrBusy(t *testing.T) {
	env, _, token := testEnv(t)
	env.Journal = filepath.Join(t.TempDir(), "journal")
	env.Confirm = nil // any question fails the test
	ctx := context.Background()

	// Removed by hand since: let go, no question.
	interruptedRun(t, env, token, "", []string{"targets:gone"}, nil, nil)
	hb, _, _ := env.Registry.OpenDevice(ctx, token, env.HSM)
	if err := hb.Delete(ctx, token+";object=targets:gone"); err != nil {
		t.Fatal(err)
	}
	hb.Close()

	// Another device's journal: ignored, and kept.
	other := "softkey:file=" + filepath.Join(t.TempDir(), "other.softkey")
	interruptedRun(t, env, other, "", []string{"targets:elsewhere"}, nil, nil)

	// A run whose output exists finished: its keys belong to it.
	out := filepath.Join(t.TempDir(), "signed")
	interruptedRun(t, env, token, out, []string{"targets:done"}, nil, nil)
	os.Mkdir(out, 0o755)

	// A running keyrite's journal is not touched.
	live := New(env, "init")
	lb, _ := live.Backend(ctx, token)
	live.Creating(lb, "targets:live", "", "")
	k, _ := lb.Generate(ctx, hsm.KeySpec{Label: "targets:live"})
	live.Created(lb, "targets:live", k)

	s := New(env, "init")
	b, _ := s.Backend(ctx, token)
	if _, err := s.Leftovers(ctx, []hsm.Backend{b}, nil); err != nil {
		t.Fatal(err)
	}
	s.Begin(nil, nil)
	ev := leftoverEvent(t, s)
	if _, asked := ev["decision"]; asked || !strings.Contains(string(ev["released"]), "targets:gone") ||
		!strings.Contains(string(ev["released"]), "which its run finished") || strings.Contains(string(ev["released"]), "elsewhere") {
		t.Errorf("event: %s", ev)
	}
	s.Close()
	files := journalFiles(t, env.Journal)
	if len(files) != 2 || !strings.Contains(strings.Join(files, ""), "targets:elsewhere") || !strings.Contains(strings.Join(files, ""), "targets:live") {
		t.Errorf("journals left: %v", files)
	}
	if got := labels(t, env, token); !slices.Equal(got, []string{"root", "targets:done", "targets:live"}) {
		t.Errorf("device: %v", got)
	}
	live.Close()
}

func TestLeftoversAnotherKeyUnderTheLabel(t *testing.T) {
	env, _, token := testEnv(t)
	env.Journal = filepath.Join(t.TempDir(), "journal")
	env.Confirm = nil
	ctx := context.Background()
	interruptedRun(t, env, token, "", []string{"targets:a"}, nil, nil)
	// Replaced by hand with another key under the same label.
	hb, _, _ := env.Registry.OpenDevice(ctx, token, env.HSM)
	hb.Delete(ctx, token+";object=targets:a")
	hb.Generate(ctx, hsm.KeySpec{Label: "targets:a"})
	hb.Close()
	s := New(env, "init")
	defer s.Close()
	b, _ := s.Backend(ctx, token)
	if _, err := s.Leftovers(ctx, []hsm.Backend{b}, nil); err != nil {
		t.Fatal(err)
	}
	if got := labels(t, env, token); !slices.Equal(got, []string{"root", "targets:a"}) {
		t.Errorf("another key was touched: %v", got)
	}
	if files := journalFiles(t, env.Journal); len(files) != 0 {
		t.Errorf("journal: %v", files)
	}
}

func TestNotCreatedLetsTheIntentGo(t *testing.T) {
	env, _, token := testEnv(t)
	env.Journal = filepath.Join(t.TempDir(), "journal")
	ctx, cancel := context.WithCancel(context.Background())
	s := New(env, "init")
	b, _ := s.Backend(ctx, token)
	s.Creating(b, "targets:a", "", "")
	s.Creating(b, "root", "", "") // "root" exists: a failure that leaves a key under the label
	cancel()                      // interrupted: NotCreated still looks
	s.NotCreated(ctx, b, "targets:a")
	s.NotCreated(ctx, b, "root")
	s.Close()
	files := journalFiles(t, env.Journal)
	if len(files) != 1 || strings.Contains(files[0], `"label":"targets:a","key_id"`) || !strings.Contains(files[0], `"reason":"not created"`) {
		t.Fatalf("journal: %v", files)
	}
}
