package softkey

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm"
)

func pins(pass string, calls *int) hsm.PINSource {
	return hsm.PINFunc(func(ctx context.Context, req hsm.PINRequest) ([]byte, error) {
		*calls++
		return []byte(pass), nil
	})
}

func open(t *testing.T, path, pass string, calls *int) hsm.Backend {
	t.Helper()
	d := &Driver{WorkFactor: 10} // fast scrypt for tests
	u, _ := hsm.ParseURI("softkey:file=" + path)
	b, err := d.Open(context.Background(), u, hsm.Options{PIN: pins(pass, calls)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSoftkeyLifecycle(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token.softkey")
	calls := 0
	b := open(t, path, "correct horse", &calls)
	k, err := b.Generate(ctx, hsm.KeySpec{Label: "root"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Generate(ctx, hsm.KeySpec{Label: "root"}); !errors.Is(err, hsm.ErrExists) {
		t.Errorf("same label again: %v", err)
	}
	if _, err := b.Generate(ctx, hsm.KeySpec{Label: "t", Algorithm: hsm.P384}); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("passphrase asked %d times, want once", calls)
	}
	b.Close()
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	raw, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(raw), "age-encryption.org/v1") {
		t.Error("token file is not an age file")
	}

	calls = 0
	b = open(t, path, "correct horse", &calls)
	k2, err := b.Open(ctx, k.URI())
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("x"))
	sig, err := k2.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := hsm.VerifyDigest(k.Public(), d[:], sig); err != nil {
		t.Errorf("reopened key signs for another public key: %v", err)
	}
	list, err := b.List(ctx)
	if err != nil || len(list) != 2 || list[0].Origin != hsm.OriginSoftware {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if err := b.Delete(ctx, k.URI()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ctx, k.URI()); !errors.Is(err, hsm.ErrNotFound) {
		t.Errorf("deleted key opens: %v", err)
	}
	if b.Info().Software != true {
		t.Error("softkey not flagged as software")
	}
	b.Close()

	b = open(t, path, "wrong", &calls)
	_, err = b.List(ctx)
	var ae *hsm.AuthError
	if !errors.As(err, &ae) || ae.What != "passphrase" {
		t.Fatalf("wrong passphrase: %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(after) == "" || len(after) == 0 {
		t.Error("a wrong passphrase damaged the token file")
	}
}

// A token whose passphrase keyrite generated is still an age file,
// encrypted with scrypt at the lower work factor, that opens only with its
// passphrase.
func TestGeneratedPassphraseTokenStaysEncrypted(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rehearsal.softkey")
	calls := 0
	u, _ := hsm.ParseURI("softkey:file=" + path)
	b, err := NewGeneratedPassphraseDriver().Open(ctx, u, hsm.Options{PIN: pins("generated-random-passphrase", &calls)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Generate(ctx, hsm.KeySpec{Label: "root"}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	raw, _ := os.ReadFile(path)
	header, _, _ := strings.Cut(string(raw), "\n---")
	if !strings.HasPrefix(header, "age-encryption.org/v1\n-> scrypt ") || !strings.HasSuffix(strings.SplitN(header, "\n", 3)[1], " 10") {
		t.Errorf("token header %q, want an age scrypt stanza with work factor 10", header)
	}
	if strings.Contains(string(raw), "PRIVATE") || strings.Contains(string(raw), `"label"`) {
		t.Error("the token file holds plaintext")
	}
	if _, err := open(t, path, "another passphrase", &calls).List(ctx); err == nil {
		t.Error("the token opened with another passphrase")
	}
}

// TestTokenKeepsItsWorkFactor: a token is saved again with the scrypt work
// factor it was made with, whichever driver opened it: a rehearsal's token
// stays cheap to write, and a token at age's default is never weakened.
func TestTokenKeepsItsWorkFactor(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ made, opened, want int }{{10, 0, 10}, {12, 10, 12}} {
		path := filepath.Join(t.TempDir(), "token.softkey")
		calls := 0
		u, _ := hsm.ParseURI("softkey:file=" + path)
		b, err := (&Driver{WorkFactor: c.made}).Open(ctx, u, hsm.Options{PIN: pins("passphrase", &calls)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Generate(ctx, hsm.KeySpec{Label: "one"}); err != nil {
			t.Fatal(err)
		}
		b.Close()
		b, err = (&Driver{WorkFactor: c.opened}).Open(ctx, u, hsm.Options{PIN: pins("passphrase", &calls)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Generate(ctx, hsm.KeySpec{Label: "two"}); err != nil {
			t.Fatal(err)
		}
		b.Close()
		raw, _ := os.ReadFile(path)
		if wf, ok := fileWorkFactor(raw); !ok || wf != c.want {
			t.Errorf("made at %d, saved by a driver at %d: work factor %d (%v), want %d", c.made, c.opened, wf, ok, c.want)
		}
		if keys, err := open(t, path, "passphrase", &calls).List(ctx); err != nil || len(keys) != 2 {
			t.Errorf("token after the second save: %d keys, %v", len(keys), err)
		}
	}
}

// TestBatchSavesOnce: after SaveLater the keys made and deleted stay in
// memory (the file is untouched) until Save writes them at once; then each
// change is saved again.
func TestBatchSavesOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token.softkey")
	calls := 0
	b := open(t, path, "passphrase", &calls)
	if _, err := b.Generate(ctx, hsm.KeySpec{Label: "root"}); err != nil {
		t.Fatal(err)
	}
	saved, _ := os.ReadFile(path)
	bs := b.(hsm.BatchSaver)
	bs.SaveLater()
	for _, l := range []string{"a", "b", "c"} {
		if _, err := b.Generate(ctx, hsm.KeySpec{Label: l}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete(ctx, "softkey:file="+path+";object=b"); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, saved) {
		t.Fatal("the batch wrote the file before Save")
	}
	if keys, err := open(t, path, "passphrase", &calls).List(ctx); err != nil || len(keys) != 1 {
		t.Fatalf("on disk before Save: %d keys, %v", len(keys), err)
	}
	if err := bs.Save(); err != nil {
		t.Fatal(err)
	}
	if keys, err := open(t, path, "passphrase", &calls).List(ctx); err != nil || len(keys) != 3 {
		t.Fatalf("on disk after Save: %d keys, %v (want root, a, c)", len(keys), err)
	}
	saved, _ = os.ReadFile(path)
	if _, err := b.Generate(ctx, hsm.KeySpec{Label: "d"}); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(path); bytes.Equal(now, saved) {
		t.Error("after Save, a new key was not saved at once")
	}
}
