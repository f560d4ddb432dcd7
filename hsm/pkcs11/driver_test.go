package pkcs11

import (
	"context"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/testenv"
)

func parse(t *testing.T, uri string) *hsm.URI {
	t.Helper()
	u, err := hsm.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestDeviceAbsent(t *testing.T) {
	f := newFixture(t)
	opts := hsm.Options{Module: f.hsm.Module}
	for _, uri := range []string{"pkcs11:token=nope", "pkcs11:token=keyrite-test;serial=0000", "pkcs11:slot-id=12345"} {
		_, err := f.d.Open(context.Background(), parse(t, uri), opts)
		var ae *hsm.DeviceAbsentError
		if !errors.As(err, &ae) {
			t.Errorf("%s: %v, want *hsm.DeviceAbsentError", uri, err)
			continue
		}
		want := "keyrite-test (serial " + f.hsm.Serial + ")"
		if len(ae.Seen) != 1 || ae.Seen[0] != want {
			t.Errorf("%s: seen %q, want [%q] (the free uninitialised slot is not a device)", uri, ae.Seen, want)
		}
	}
}

func TestAmbiguousToken(t *testing.T) {
	s := testenv.NewSoftHSM(t, "twin")
	other := s.AddToken("twin") // before the driver: SoftHSM lists tokens at C_Initialize
	d := NewDriver()
	defer d.Close()
	ctx := context.Background()
	opts := hsm.Options{Module: s.Module, PIN: &pinCounter{pin: other.PIN}}

	_, err := d.Open(ctx, parse(t, "pkcs11:token=twin"), opts)
	if err == nil || !strings.Contains(err.Error(), "serial=") || !strings.Contains(err.Error(), other.Serial) {
		t.Fatalf("two tokens labelled twin: %v, want a request for serial=", err)
	}
	b, err := d.Open(ctx, parse(t, other.URI()), opts)
	if err != nil {
		t.Fatal(err)
	}
	if b.Info().Serial != other.Serial {
		t.Errorf("opened serial %s, want %s", b.Info().Serial, other.Serial)
	}
	// The PIN is the second token's: logging in proves the right one opened.
	if _, err := b.List(ctx); err != nil {
		t.Errorf("List on the second token: %v", err)
	}
	// slot-id selects too.
	b2, err := d.Open(ctx, parse(t, "pkcs11:slot-id="+s.Slot), opts)
	if err != nil || b2.Info().Serial != s.Serial {
		t.Errorf("slot-id=%s: %v", s.Slot, err)
	}
}

func TestInfoAndDevices(t *testing.T) {
	f := newFixture(t)
	info := f.b.Info()
	want := hsm.DeviceInfo{
		URI:          "pkcs11:token=keyrite-test;serial=" + f.hsm.Serial,
		Kind:         "pkcs11",
		Label:        "keyrite-test",
		Serial:       f.hsm.Serial,
		Manufacturer: "SoftHSM project",
		Model:        "SoftHSM v2",
		Software:     true,
	}
	if info.URI != want.URI || info.Kind != want.Kind || info.Label != want.Label || info.Serial != want.Serial ||
		info.Manufacturer != want.Manufacturer || info.Model != want.Model || info.Software != want.Software {
		t.Errorf("Info() = %+v\nwant %+v", info, want)
	}
	if !strings.Contains(info.Firmware, ".") || len(info.Warnings) != 1 {
		t.Errorf("firmware %q, warnings %q", info.Firmware, info.Warnings)
	}

	// module-path given in the URI is carried in the URIs printed.
	uri := f.hsm.URI() + "?module-path=" + f.hsm.Module
	b, err := f.d.open(context.Background(), parse(t, uri), hsm.Options{PIN: f.pins})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.Info().URI; got != uri {
		t.Errorf("Info().URI = %s, want %s", got, uri)
	}
	k, err := b.Generate(context.Background(), hsm.KeySpec{Label: "mp"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(k.URI(), "?module-path="+f.hsm.Module) {
		t.Errorf("key URI %s lost module-path", k.URI())
	}

	// Devices with --module, and with the default search list.
	for _, module := range []string{f.hsm.Module, ""} {
		devs, err := f.d.Devices(context.Background(), hsm.Options{Module: module})
		if err != nil {
			t.Fatalf("Devices(module %q): %v", module, err)
		}
		var found []hsm.DeviceInfo
		for _, d := range devs {
			if d.Serial == f.hsm.Serial {
				found = append(found, d)
			}
		}
		if len(found) != 1 {
			t.Fatalf("Devices(module %q) = %+v, want the token once", module, devs)
		}
		d := found[0]
		wantURI := want.URI
		if module != "" {
			wantURI += "?module-path=" + module
		}
		if d.Label != "keyrite-test" || d.Kind != "pkcs11" || d.URI != wantURI || d.Firmware != info.Firmware || !d.Software {
			t.Errorf("Devices(module %q): %+v, want URI %s", module, d, wantURI)
		}
	}
}

func TestModuleErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "missing.so")
	notLib := filepath.Join(t.TempDir(), "not-a-library.so")
	if err := os.WriteFile(notLib, []byte("text"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		uri    string
		module string
		want   string
	}{
		"URI module missing":    {"pkcs11:token=keyrite-test?module-path=" + missing, "", "missing.so"},
		"--module missing":      {"pkcs11:token=keyrite-test", missing, "missing.so"},
		"URI beats --module":    {"pkcs11:token=keyrite-test?module-path=" + missing, f.hsm.Module, "missing.so"},
		"not a PKCS#11 library": {"pkcs11:token=keyrite-test", notLib, "cannot load it as a PKCS#11 library"},
	} {
		_, err := f.d.Open(ctx, parse(t, tc.uri), hsm.Options{Module: tc.module})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}

	// No default module present: the error lists the paths, and its hint
	// says how to name a module.
	d := NewDriver()
	defer d.Close()
	d.defaults = []string{missing, missing + ".2"}
	var hinted *hsm.HintError
	_, err := d.Devices(ctx, hsm.Options{})
	if !errors.As(err, &hinted) || !strings.Contains(err.Error(), missing+", "+missing+".2") || !strings.Contains(hinted.Hint, "--module or module-path=") {
		t.Errorf("no default module: %v (hint %+v)", err, hinted)
	}
	if _, err := d.Open(ctx, parse(t, "pkcs11:token=x"), hsm.Options{}); !errors.As(err, &hinted) || !strings.Contains(hinted.Hint, "--module") {
		t.Errorf("Open without a module: %v", err)
	}
}

func TestDelete(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	k := f.generate(t, "doomed", "")
	keep := f.generate(t, "kept", "")
	if n := len(f.objects(t, "doomed")); n != 2 {
		t.Fatalf("%d objects before delete, want 2", n)
	}
	if err := f.b.Delete(ctx, k.URI()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.objects(t, "doomed")); n != 0 {
		t.Errorf("%d objects left after delete, want 0", n)
	}
	if _, err := f.b.Open(ctx, k.URI()); !errors.Is(err, hsm.ErrNotFound) {
		t.Errorf("Open after delete: %v, want ErrNotFound", err)
	}
	if err := f.b.Delete(ctx, k.URI()); !errors.Is(err, hsm.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if err := f.b.Delete(ctx, f.hsm.URI()); err == nil {
		t.Error("deleted with no object= or id=")
	}
	if _, err := keep.Sign(nil, digest256("still here"), crypto.SHA256); err != nil {
		t.Errorf("the other key: %v", err)
	}
	// By label alone, too.
	if err := f.b.Delete(ctx, "pkcs11:object=kept"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.objects(t, "kept")); n != 0 {
		t.Errorf("%d objects left after delete by label", n)
	}
}

func TestDriverClose(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	k := f.generate(t, "root", "")

	// A second driver in the process shares the module: closing the first
	// must not finalize it under the second.
	d2 := NewDriver()
	defer d2.Close()
	b2, err := d2.Open(ctx, parse(t, f.hsm.URI()), hsm.Options{Module: f.hsm.Module, PIN: &pinCounter{pin: f.hsm.PIN}})
	if err != nil {
		t.Fatal(err)
	}
	k2, err := b2.Open(ctx, k.URI())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := k2.Sign(nil, digest256("after"), crypto.SHA256); err != nil {
		t.Errorf("second driver's key after the first driver closed: %v", err)
	}
	// The first driver's backends were closed with it, and say so.
	if _, err := k.Sign(nil, digest256("after"), crypto.SHA256); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("key of a closed driver: %v", err)
	}
	if _, err := f.b.List(ctx); err == nil {
		t.Error("backend of a closed driver listed keys")
	}
	if _, err := f.d.Open(ctx, parse(t, f.hsm.URI()), hsm.Options{Module: f.hsm.Module}); err == nil {
		t.Error("closed driver opened a token")
	}
}
