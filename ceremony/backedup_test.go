package ceremony

import (
	"context"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softkey"
)

// fakeDriver serves fake: URIs; its devices fail where told to.
type fakeDriver struct {
	absent     bool
	importErr  error
	imports    int
	randomized int
}

func (d *fakeDriver) Open(ctx context.Context, u *hsm.URI, o hsm.Options) (hsm.Backend, error) {
	if d.absent {
		return nil, &hsm.DeviceAbsentError{Device: "fake device " + u.Get("name")}
	}
	return &fakeBackend{d: d, name: u.Get("name")}, nil
}

func (d *fakeDriver) Devices(context.Context, hsm.Options) ([]hsm.DeviceInfo, error) { return nil, nil }

type fakeBackend struct {
	d    *fakeDriver
	name string
}

func (b *fakeBackend) Info() hsm.DeviceInfo {
	return hsm.DeviceInfo{URI: "fake:name=" + b.name, Kind: "fake", Label: b.name, Serial: "F" + b.name}
}
func (b *fakeBackend) Generate(context.Context, hsm.KeySpec) (hsm.Key, error) {
	return nil, errors.New("not here")
}
func (b *fakeBackend) Import(ctx context.Context, k crypto.Signer, s hsm.KeySpec) (hsm.Key, error) {
	b.d.imports++
	return nil, b.d.importErr
}
func (b *fakeBackend) Open(context.Context, string) (hsm.Key, error) { return nil, hsm.ErrNotFound }
func (b *fakeBackend) List(context.Context) ([]hsm.KeyInfo, error)   { return nil, nil }
func (b *fakeBackend) Delete(context.Context, string) error          { return nil }
func (b *fakeBackend) Close() error                                  { return nil }
func (b *fakeBackend) Random(ctx context.Context, n int) ([]byte, error) {
	b.d.randomized++
	return make([]byte, n), nil
}

func testEnv(fake *fakeDriver) session.Env {
	r := hsm.NewRegistry()
	r.Register("softkey", &softkey.Driver{WorkFactor: 10})
	r.Register("fake", fake)
	pin := hsm.PINFunc(func(context.Context, hsm.PINRequest) ([]byte, error) { return []byte("test passphrase"), nil })
	return session.Env{Registry: r, HSM: hsm.Options{PIN: pin}}
}

func custodians(t *testing.T, n int) ([]backup.Custodian, []age.Identity) {
	var cs []backup.Custodian
	var ids []age.Identity
	for i := 0; i < n; i++ {
		id, _ := age.GenerateX25519Identity()
		c, err := backup.ParseCustodian(string(rune('a'+i)) + "=" + id.Recipient().String())
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		ids = append(ids, id)
	}
	return cs, ids
}

// TestImportFailureKeepsBackup: the second of three devices refuses the
// key. The backup stays, verified; the error and the transcript say that
// the first device holds the key, the second failed and the third was not
// tried.
func TestImportFailureKeepsBackup(t *testing.T) {
	dir := t.TempDir()
	fake := &fakeDriver{importErr: errors.New("no room for another key")}
	cs, _ := custodians(t, 3)
	first := "softkey:file=" + filepath.Join(dir, "first.softkey")
	third := "softkey:file=" + filepath.Join(dir, "third.softkey")
	_, err := GenerateBackedUp(context.Background(), testEnv(fake), BackedUpOptions{
		Devices: []string{first, "fake:name=b", third}, Label: "root", Algorithm: hsm.P256,
		Custodians: cs, Threshold: 2, Out: filepath.Join(dir, "backup")})
	var ie *ImportError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want an ImportError", err)
	}
	if len(ie.Holding) != 1 || !strings.HasPrefix(ie.Holding[0].URI, first+";object=root") || ie.Failed != "fake:name=b" ||
		len(ie.NotTried) != 1 || ie.NotTried[0] != third {
		t.Fatalf("ImportError = %+v", ie)
	}
	msg := err.Error()
	for _, want := range []string{"no room for another key", "the key is on " + first, "it is NOT on fake:name=b, " + third, "the verified backup in " + filepath.Join(dir, "backup") + " holds it"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	// The device RNG was mixed in (the fake one reports zeros, harmlessly).
	if fake.randomized != 1 || fake.imports != 1 {
		t.Errorf("fake device: %d random reads, %d imports", fake.randomized, fake.imports)
	}
	for _, f := range []string{"a.share.age", "b.share.age", "c.share.age", "backup.json"} {
		if _, err := os.Stat(filepath.Join(dir, "backup", f)); err != nil {
			t.Errorf("backup lost %s: %v", f, err)
		}
	}
	tr, err := os.ReadFile(filepath.Join(dir, "backup", bundle.TranscriptName))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := bundle.VerifyTranscript(tr)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, e := range entries {
		events = append(events, e.Event)
	}
	if got := strings.Join(events, " "); got != "ceremony.start key.generated backup.created backup.verified key.imported key.import.failed" {
		t.Errorf("transcript events: %s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "third.softkey")); !os.IsNotExist(err) {
		t.Errorf("the third device was touched")
	}
}

// TestFailureBeforeImportLeavesNothing: a device that is not there stops
// the run before any key, file or backup exists.
func TestFailureBeforeImportLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	cs, _ := custodians(t, 2)
	_, err := GenerateBackedUp(context.Background(), testEnv(&fakeDriver{absent: true}), BackedUpOptions{
		Devices: []string{"softkey:file=" + filepath.Join(dir, "s.softkey"), "fake:name=gone"}, Label: "root", Algorithm: hsm.P256,
		Custodians: cs, Threshold: 2, Out: filepath.Join(dir, "backup")})
	var absent *hsm.DeviceAbsentError
	if !errors.As(err, &absent) {
		t.Fatalf("err = %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a failed run left %v", entries)
	}
	// A passphrase that cannot be read also stops it before anything is
	// written.
	pc, _ := backup.ParseCustodian("p=passphrase")
	_, err = GenerateBackedUp(context.Background(), testEnv(&fakeDriver{}), BackedUpOptions{
		Devices: []string{"fake:name=x"}, Label: "root", Algorithm: hsm.P256, Custodians: append(cs, pc), Threshold: 2,
		Out:        filepath.Join(dir, "backup"),
		Passphrase: func(backup.Custodian) ([]byte, error) { return nil, errors.New("the two passphrases do not match") }})
	if err == nil || !strings.Contains(err.Error(), "do not match") {
		t.Fatalf("err = %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a failed run left %v", entries)
	}
}
