package bundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

// An empty file is a file like any other (it was refused for want of a
// size limit once).
func TestManifestEmptyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	if err := Write(dir, KindSigned, Files{"empty": nil, "a": []byte("a")}); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir, KindSigned)
	if err != nil || len(got["empty"]) != 0 || string(got["a"]) != "a" {
		t.Fatalf("%v, %v", got, err)
	}
	os.WriteFile(filepath.Join(dir, "empty"), []byte("x"), 0o644)
	if _, err := Read(dir, KindSigned); err == nil || !strings.Contains(err.Error(), "empty has 1 bytes, the manifest says 0") {
		t.Fatalf("grown: %v", err)
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
		{"fifo listed", func(d string) {
			os.Remove(filepath.Join(d, "a.json"))
			unix.Mkfifo(filepath.Join(d, "a.json"), 0o644)
		}, KindSigned, "a.json is a named pipe (FIFO), not a regular file"},
		{"fifo unlisted", func(d string) { unix.Mkfifo(filepath.Join(d, "pipe"), 0o644) }, KindSigned, "pipe is a named pipe (FIFO), not a regular file"},
		{"manifest is a fifo", func(d string) {
			os.Remove(filepath.Join(d, ManifestName))
			unix.Mkfifo(filepath.Join(d, ManifestName), 0o644)
		}, KindSigned, "manifest.json is a named pipe (FIFO), not a regular file"},
		{"manifest is a symlink", func(d string) {
			os.Rename(filepath.Join(d, ManifestName), filepath.Join(d, "..", "m.json"))
			os.Symlink(filepath.Join(d, "..", "m.json"), filepath.Join(d, ManifestName))
		}, KindSigned, "manifest.json is a symbolic link, not a regular file"},
		{"directory symlinked", func(d string) {
			os.Rename(filepath.Join(d, "repos"), filepath.Join(d, "..", "repos"))
			os.Symlink(filepath.Join(d, "..", "repos"), filepath.Join(d, "repos"))
		}, KindSigned, "repos is a symbolic link"},
		{"sparse file in place of a listed one", func(d string) { os.Truncate(filepath.Join(d, "a.json"), 8<<30) }, KindSigned,
			"a.json has 8589934592 bytes, the manifest says 7: the file was changed"},
		{"sparse file unlisted", func(d string) {
			f, _ := os.Create(filepath.Join(d, "big"))
			f.Truncate(8 << 30)
			f.Close()
		}, KindSigned, "big is not listed"},
		{"sparse file listed", func(d string) {
			os.Truncate(filepath.Join(d, "a.json"), 8<<30)
			editManifest(d, func(m *Manifest) { m.Files[0].Length = 8 << 30 })
		}, KindSigned, "the manifest lists a.json with 8589934592 bytes, more than the 1048576 it may hold"},
		{"metadata over its limit", func(d string) {
			editManifest(d, func(m *Manifest) { m.Files[1].Length = MaxMetadataSize + 1 })
		}, KindSigned, "the manifest lists repos/example.com/app/_trust/root.json with 8388609 bytes, more than the 8388608 it may hold"},
		{"bundle over its limit", func(d string) {
			editManifest(d, func(m *Manifest) {
				for i := 0; i < 6; i++ {
					m.Files = append(m.Files, Entry{Path: RepoFile("example.com/app", fmt.Sprintf("t%d.json", i)), Length: MaxMetadataSize})
				}
			})
		}, KindSigned, "the manifest lists more than the 50331648 bytes a bundle may hold"},
		{"negative length", func(d string) { editManifest(d, func(m *Manifest) { m.Files[0].Length = -1 }) }, KindSigned, "with -1 bytes"},
		{"unlisted directory", func(d string) { os.Mkdir(filepath.Join(d, "empty"), 0o755) }, KindSigned, "empty/ is not listed"},
		{"many unlisted files", func(d string) {
			for i := 0; i < 30; i++ {
				os.WriteFile(filepath.Join(d, fmt.Sprintf("x%02d", i)), nil, 0o644)
			}
		}, KindSigned, "x00, x01, x02, x03, x04, x05, x06, x07, x08, x09 and 20 more is not listed"},
		{"duplicate key in manifest", func(d string) {
			m, _ := os.ReadFile(filepath.Join(d, ManifestName))
			os.WriteFile(filepath.Join(d, ManifestName), []byte(strings.Replace(string(m), `"kind": "signed",`, `"kind": "signed", "kind": "signed",`, 1)), 0o644)
		}, KindSigned, `manifest.json is not valid: key "kind" appears twice in one object`},
		{"unknown field in manifest", func(d string) {
			m, _ := os.ReadFile(filepath.Join(d, ManifestName))
			os.WriteFile(filepath.Join(d, ManifestName), []byte(strings.Replace(string(m), `"kind": "signed",`, `"kind": "signed", "note": 1,`, 1)), 0o644)
		}, KindSigned, `manifest.json is not valid: json: unknown field "note"`},
		{"two JSON values in manifest", func(d string) {
			m, _ := os.ReadFile(filepath.Join(d, ManifestName))
			os.WriteFile(filepath.Join(d, ManifestName), append(m, m...), 0o644)
		}, KindSigned, `manifest.json is not valid: text after the JSON value`},
		{"manifest too large", func(d string) {
			os.Truncate(filepath.Join(d, ManifestName), MaxManifestSize+1)
		}, KindSigned, "manifest.json is 8388609 bytes, more than the 8388608 it may hold"},
		{"no manifest", func(d string) { os.Remove(filepath.Join(d, ManifestName)) }, KindSigned, "not a keyrite bundle"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeTestBundle(t)
			c.damage(dir)
			start := time.Now()
			_, err := Read(dir, c.kind)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("refusing took %v", d)
			}
			var be *Error
			if !errors.As(err, &be) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want bundle.Error containing %q", err, c.want)
			}
		})
	}
}

// editManifest changes a bundle's manifest as a forger would.
func editManifest(dir string, edit func(*Manifest)) {
	b, _ := os.ReadFile(filepath.Join(dir, ManifestName))
	var m Manifest
	json.Unmarshal(b, &m)
	edit(&m)
	b, _ = json.MarshalIndent(m, "", "  ")
	os.WriteFile(filepath.Join(dir, ManifestName), b, 0o644)
}

func TestDuplicateKeys(t *testing.T) {
	for _, c := range []struct {
		text string
		dup  string
	}{
		{`{"a":1,"b":2}`, ""},
		{`{"a":1,"a":2}`, "a"},
		{`{"a":{"b":1},"c":{"b":2}}`, ""},
		{`{"a":{"b":1,"b":2}}`, "b"},
		{`[{"a":1},{"a":1}]`, ""},
		{`[{"a":["a","a",{"x":1,"x":1}]}]`, "x"},
		{`{"a":[1,2],"a":[]}`, "a"},
		{`{"a":"a","b":"a"}`, ""},
		{`{"a\u0062":1,"ab":2}`, "ab"}, // escapes decoded before comparing
		{`not json`, ""},
	} {
		err := checkNoDuplicateKeys([]byte(c.text))
		var de *DuplicateKeyError
		switch {
		case c.dup == "" && err != nil:
			t.Errorf("%s: %v", c.text, err)
		case c.dup != "" && (!errors.As(err, &de) || de.Key != c.dup):
			t.Errorf("%s: %v, want duplicate %q", c.text, err, c.dup)
		}
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
