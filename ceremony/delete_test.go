package ceremony

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
)

func TestDeleteKey(t *testing.T) {
	env := testEnv(&fakeDriver{})
	ctx := context.Background()
	dev := "softkey:file=" + filepath.Join(t.TempDir(), "d.softkey")
	made := map[string]string{}
	for _, l := range []string{"root", "old", "pinned"} {
		d, err := GenerateKey(ctx, env, GenerateOptions{Device: dev, Label: l})
		if err != nil {
			t.Fatal(err)
		}
		made[l] = d.CanonicalID
	}
	held := func() string {
		keys, _, err := ListKeys(ctx, env, dev)
		if err != nil {
			t.Fatal(err)
		}
		var ls []string
		for _, k := range keys {
			ls = append(ls, k.Label)
		}
		slices.Sort(ls)
		return strings.Join(ls, ",")
	}
	env.KeyInUse = func(id string) (string, bool) {
		return "the pinned root of example.com/app (trust store)", id == made["pinned"]
	}
	var asked []session.Confirmation
	typed := func(s string) func(session.Confirmation) (string, error) {
		return func(c session.Confirmation) (string, error) {
			asked = append(asked, c)
			return s, nil
		}
	}

	// A wrong ID, no way to ask: refused, nothing deleted.
	for _, confirm := range []func(session.Confirmation) (string, error){typed("0123456789ab"), typed(made["root"]), nil} {
		env.Confirm = confirm
		_, err := DeleteKey(ctx, env, DeleteOptions{URI: dev + ";object=old"})
		var ce *session.ConfirmationError
		if !errors.As(err, &ce) {
			t.Fatalf("%v", err)
		}
	}
	if held() != "old,pinned,root" {
		t.Fatalf("held: %s", held())
	}
	c := asked[0]
	if c.Want != made["old"][:12] || !strings.Contains(c.Action, made["old"]) || !strings.Contains(c.Action, `label "old"`) ||
		!strings.Contains(c.Prompt, "first 12 characters of the key ID") {
		t.Errorf("question: %+v", c)
	}

	// The first 12 characters, or the whole ID.
	env.Confirm = typed(made["old"][:12])
	res, err := DeleteKey(ctx, env, DeleteOptions{URI: dev + ";object=old"})
	if err != nil || res.Deleted.CanonicalID != made["old"] || res.Deleted.Label != "old" || res.PinnedIn != "" {
		t.Fatalf("%+v %v", res, err)
	}
	env.Confirm = typed(made["root"])
	if _, err := DeleteKey(ctx, env, DeleteOptions{URI: dev + ";object=root"}); err != nil {
		t.Fatal(err)
	}
	if held() != "pinned" {
		t.Fatalf("held: %s", held())
	}

	// A key a pinned root names: refused before anyone is asked, unless
	// forced.
	asked = nil
	env.Confirm = typed(made["pinned"])
	_, err = DeleteKey(ctx, env, DeleteOptions{URI: dev + ";object=pinned"})
	var iu *KeyInUseError
	if !errors.As(err, &iu) || iu.KeyID != made["pinned"] || !strings.Contains(err.Error(), "example.com/app") || len(asked) != 0 {
		t.Fatalf("%v (asked %d)", err, len(asked))
	}
	if held() != "pinned" {
		t.Fatalf("held: %s", held())
	}
	res, err = DeleteKey(ctx, env, DeleteOptions{URI: dev + ";object=pinned", Force: true})
	if err != nil || !strings.Contains(res.PinnedIn, "example.com/app") || len(asked) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	// Gone.
	if _, err := DeleteKey(ctx, env, DeleteOptions{URI: dev + ";object=pinned"}); !errors.Is(err, hsm.ErrNotFound) {
		t.Errorf("deleted twice: %v", err)
	}
}
