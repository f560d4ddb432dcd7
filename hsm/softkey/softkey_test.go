package softkey

import (
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
