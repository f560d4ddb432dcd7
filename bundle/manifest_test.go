package bundle

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/internal/fsutil"
)

func writeTestBundle(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "b")
	files := Files{"a.json": []byte(`{"a":1}`), RepoFile("example.com/app", "root.json"): []byte("root")}
	if err := Write(dir, KindSigned, files); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestManifestRoundTrip(t *testing.T) {
	dir := writeTestBundle(t)
	got, err := Read(dir, KindSigned)
	if err != nil {
		t.Fatal(err)
	}
	if string(got["repos/example.com/app/_trust/root.json"]) != "root" || len(got) != 2 {
		t.Fatalf("read %v", got)
	}
	err = Write(dir, KindSigned, Files{"x": nil})
	var ee *fsutil.ExistsError
	if !errors.As(err, &ee) || ee.Path != dir || ee.What != "bundle" || err.Error() != "output "+dir+" already exists" {
		t.Errorf("second write over the bundle: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.json")); string(b) != `{"a":1}` {
		t.Error("the refused write changed the bundle")
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".*partial*"))
	if len(left) != 0 {
		t.Errorf("temporary directories left behind: %v", left)
	}
}

func TestManifestRefuses(t *testing.T) {
	cases := []struct {
		name   string
		damage func(dir string)
		kind   string
		want   string
	}{
		{"one byte changed", func(d string) { os.WriteFile(filepath.Join(d, "a.json"), []byte(`{"a":2}`), 0o644) }, KindSigned, "does not match its SHA-256"},
		{"length changed", func(d string) { os.WriteFile(filepath.Join(d, "a.json"), []byte(`{"a":10}`), 0o644) }, KindSigned, "has 8 bytes"},
		{"file removed", func(d string) { os.Remove(filepath.Join(d, "a.json")) }, KindSigned, "listed in the manifest but missing"},
		{"file added", func(d string) { os.WriteFile(filepath.Join(d, "extra"), nil, 0o644) }, KindSigned, "extra is not listed"},
		{"manifest entry removed", func(d string) {
			m, _ := os.ReadFile(filepath.Join(d, ManifestName))
			s := string(m)
			i := strings.Index(s, `    {`+"\n"+`      "path": "a.json"`)
			j := strings.Index(s[i:], "},") + i + 3
			os.WriteFile(filepath.Join(d, ManifestName), []byte(s[:i]+s[j:]), 0o644)
		}, KindSigned, "a.json is not listed"},
		{"symlink", func(d string) { os.Symlink("/etc/passwd", filepath.Join(d, "link")) }, KindSigned, "symbolic link"},
		{"wrong kind", func(string) {}, KindRequest, "expected a request bundle"},
		{"no manifest", func(d string) { os.Remove(filepath.Join(d, ManifestName)) }, KindSigned, "not a keyrite bundle"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeTestBundle(t)
			c.damage(dir)
			_, err := Read(dir, c.kind)
			var be *Error
			if !errors.As(err, &be) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want bundle.Error containing %q", err, c.want)
			}
		})
	}
}

func TestBuildManifestRefusesEscapes(t *testing.T) {
	for _, p := range []string{"../x", "/etc/x", "a/../../x", "a//b", ManifestName} {
		if _, err := BuildManifest(KindSigned, Files{p: nil}); err == nil {
			t.Errorf("path %q accepted", p)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://Notary.Example:4443/": "https://notary.example:4443",
		"https://localhost:4443":       "https://localhost:4443",
	} {
		if got, err := NormalizeURL(in); err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"notary.example", "ftp://x", "https://user:pw@x", "https://x/?a=b"} {
		if _, err := NormalizeURL(bad); err == nil {
			t.Errorf("NormalizeURL(%q) accepted", bad)
		}
	}
}
