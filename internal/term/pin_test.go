package term

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var warn bytes.Buffer
	for _, c := range []struct{ content, want string }{
		{"123456", "123456"}, {"123456\n", "123456"}, {"123456\r\nignored\n", "123456"}, {"pass phrase with spaces\n", "pass phrase with spaces"},
	} {
		got, err := ReadSecretFile(write("pin", c.content, 0o600), &warn)
		if err != nil || string(got) != c.want {
			t.Errorf("%q: got %q, %v", c.content, got, err)
		}
		os.Remove(filepath.Join(dir, "pin"))
	}
	if warn.Len() != 0 {
		t.Errorf("warned about a 0600 file: %s", warn.String())
	}
	if _, err := ReadSecretFile(write("empty", "\n", 0o600), &warn); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: %v", err)
	}
	if _, err := ReadSecretFile(write("open", "1234\n", 0o644), &warn); err != nil || !strings.Contains(warn.String(), "readable by others") {
		t.Errorf("world-readable file: err %v, warning %q", err, warn.String())
	}
	if _, err := ReadSecretFile(filepath.Join(dir, "missing"), nil); err == nil {
		t.Error("missing file accepted")
	}
}

// One PIN entry per device for a whole batch, and Wipe forgets it.
func TestPINSourceAsksOncePerDevice(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(p, []byte("1111\n"), 0o600)
	src := &PINSource{File: p}
	ctx := context.Background()
	a, _ := src.PIN(ctx, Request{Device: "token A", Kind: "PIN"})
	os.WriteFile(p, []byte("2222\n"), 0o600)
	again, _ := src.PIN(ctx, Request{Device: "token A", Kind: "PIN"})
	other, _ := src.PIN(ctx, Request{Device: "token B", Kind: "PIN"})
	if string(a) != "1111" || string(again) != "1111" || string(other) != "2222" {
		t.Fatalf("got %q %q %q: want the first answer reused for the same device only", a, again, other)
	}
	wipe(again) // a caller wiping its copy must not wipe the cache
	if v, _ := src.PIN(ctx, Request{Device: "token A", Kind: "PIN"}); string(v) != "1111" {
		t.Errorf("cache damaged by a caller's wipe: %q", v)
	}
	src.Wipe()
	if v, _ := src.PIN(ctx, Request{Device: "token A", Kind: "PIN"}); string(v) != "2222" {
		t.Errorf("after Wipe the old PIN is still cached: %q", v)
	}
}
