package bundle

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/internal/fsutil"
)

var tarTestFiles = Files{"a.json": []byte(`{"a":1}`), RepoFile("localhost:5000/team/api", "root.json"): []byte("root")}

func TestTarRoundTripDeterministic(t *testing.T) {
	dir := t.TempDir()
	one, two := filepath.Join(dir, "one.tar"), filepath.Join(dir, "two.tar")
	for _, p := range []string{one, two} {
		if err := Write(p, KindSigned, tarTestFiles); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := os.ReadFile(one)
	b, _ := os.ReadFile(two)
	if !bytes.Equal(a, b) {
		t.Fatal("two tars of the same bundle differ")
	}
	tr := tar.NewReader(bytes.NewReader(a))
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || h.Mode != 0o644 || !h.ModTime.Equal(time.Unix(0, 0)) || h.Typeflag != tar.TypeReg {
			t.Errorf("%s: header %+v is not the fixed one", h.Name, h)
		}
		names = append(names, h.Name)
	}
	want := []string{"a.json", "manifest.json", "repos/localhost%3A5000/team/api/_trust/root.json"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("tar entries %v, want %v (sorted, the port's colon encoded)", names, want)
	}
	got, err := Read(one, KindSigned)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Repo("localhost:5000/team/api", "root.json")) != "root" || len(got) != 2 {
		t.Errorf("read back %v", got)
	}
	if k, err := KindOf(one); err != nil || k != KindSigned {
		t.Errorf("KindOf = %q, %v", k, err)
	}
	// Never over an existing file, and nothing left behind.
	err = Write(one, KindSigned, Files{"x": nil})
	var ee *fsutil.ExistsError
	if !errors.As(err, &ee) || ee.What != "bundle" {
		t.Errorf("write over a tar: %v", err)
	}
	if c, _ := os.ReadFile(one); !bytes.Equal(c, a) {
		t.Error("the refused write changed the tar")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*partial*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	t.Logf("tar SHA-256 %x", sha256.Sum256(a))
}

// rawTar builds a tar from headers and contents as given, unchecked.
type rawEntry struct {
	hdr  tar.Header
	data []byte
}

func rawTar(t *testing.T, entries ...rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg && h.Size == 0 {
			h.Size = int64(len(e.data))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if len(e.data) > 0 {
			if _, err := tw.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	tw.Flush()
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestTarRefusals(t *testing.T) {
	man, err := BuildManifest(KindSigned, Files{"a.json": []byte("a")})
	if err != nil {
		t.Fatal(err)
	}
	good := []rawEntry{{tar.Header{Name: ManifestName}, man}, {tar.Header{Name: "a.json"}, []byte("a")}}
	with := func(extra ...rawEntry) []rawEntry { return append(append([]rawEntry{}, good...), extra...) }
	// An entry claiming more than a bundle file may hold: only its header
	// is written, the size is refused before anything is read.
	var oversize bytes.Buffer
	tw := tar.NewWriter(&oversize)
	tw.WriteHeader(&tar.Header{Name: ManifestName, Typeflag: tar.TypeReg, Size: maxTarEntry + 1, Mode: 0o644})
	tw.Flush()

	cases := []struct {
		name, want string
		tar        []byte
	}{
		{"traversal", `invalid path "../evil"`, rawTar(t, with(rawEntry{tar.Header{Name: "../evil"}, []byte("x")})...)},
		{"absolute", `invalid path "/etc/evil"`, rawTar(t, with(rawEntry{tar.Header{Name: "/etc/evil"}, []byte("x")})...)},
		{"unclean", `invalid path "repos/./x"`, rawTar(t, with(rawEntry{tar.Header{Name: "repos/./x"}, []byte("x")})...)},
		{"symlink", "evil is a symbolic link", rawTar(t, with(rawEntry{tar.Header{Name: "evil", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, nil})...)},
		{"hardlink", "evil is a hard link", rawTar(t, with(rawEntry{tar.Header{Name: "evil", Typeflag: tar.TypeLink, Linkname: "a.json"}, nil})...)},
		{"directory", "repos is not a regular file", rawTar(t, with(rawEntry{tar.Header{Name: "repos", Typeflag: tar.TypeDir, Mode: 0o755}, nil})...)},
		{"fifo", "p is not a regular file", rawTar(t, with(rawEntry{tar.Header{Name: "p", Typeflag: tar.TypeFifo}, nil})...)},
		{"device", "dev is not a regular file", rawTar(t, with(rawEntry{tar.Header{Name: "dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}, nil})...)},
		{"duplicate", "a.json appears twice", rawTar(t, with(rawEntry{tar.Header{Name: "a.json"}, []byte("a")})...)},
		{"duplicate manifest", "manifest.json appears twice", rawTar(t, with(rawEntry{tar.Header{Name: ManifestName}, man})...)},
		{"file and directory", "a.json is both a file and a directory", rawTar(t, with(rawEntry{tar.Header{Name: "a.json/b"}, []byte("b")})...)},
		{"oversize", "more than the 67108864 a bundle file may have", oversize.Bytes()},
		{"trailing data", "data after the end", append(rawTar(t, good...), []byte("hidden")...)},
		{"unlisted", "x is not listed in the manifest", rawTar(t, with(rawEntry{tar.Header{Name: "x"}, []byte("x")})...)},
		{"changed", "a.json does not match its SHA-256", rawTar(t, rawEntry{tar.Header{Name: ManifestName}, man}, rawEntry{tar.Header{Name: "a.json"}, []byte("b")})},
		{"no manifest", "no manifest.json", rawTar(t, rawEntry{tar.Header{Name: "a.json"}, []byte("a")})},
		{"not a tar", "not a valid tar file", bytes.Repeat([]byte("not a tar "), 100)},
	}
	dir := t.TempDir()
	for _, c := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".tar")
		if err := os.WriteFile(p, c.tar, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Read(p, KindSigned)
		var be *Error
		if !errors.As(err, &be) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a bundle error with %q", c.name, err, c.want)
		}
	}
	if _, err := Read(rawTarFile(t, dir, good), KindSigned); err != nil {
		t.Errorf("the good tar: %v", err)
	}
}

func rawTarFile(t *testing.T, dir string, entries []rawEntry) string {
	p := filepath.Join(dir, "good.tar")
	if err := os.WriteFile(p, rawTar(t, entries...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMissingBundle(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nonexistent")
	for _, read := range []func() error{
		func() error { _, err := Read(p, KindSigned); return err },
		func() error { _, err := ReadRequest(p); return err },
		func() error { _, err := ReadSigned(p); return err },
		func() error { _, err := KindOf(p); return err },
	} {
		err := read()
		var nf *NotFoundError
		if !errors.As(err, &nf) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%v, want a NotFoundError", err)
		}
	}
}

func TestRepoFileFATSafe(t *testing.T) {
	for gun, want := range map[string]string{
		"registry.example.com/org/app": "repos/registry.example.com/org/app/_trust/root.json",
		"localhost:5000/team/api":      "repos/localhost%3A5000/team/api/_trust/root.json",
		`a<b>c"d|e?f*g\h%i/x.`:         "repos/a%3Cb%3Ec%22d%7Ce%3Ff%2Ag%5Ch%25i/x%2E/_trust/root.json",
		"trailing /space ":             "repos/trailing%20/space%20/_trust/root.json",
	} {
		p := RepoFile(gun, "root.json")
		if p != want {
			t.Errorf("RepoFile(%q) = %q, want %q", gun, p, want)
		}
		if g, n, ok := ParseRepoFile(p); !ok || g != gun || n != "root.json" {
			t.Errorf("ParseRepoFile(%q) = %q, %q, %v", p, g, n, ok)
		}
	}
	// A bundle from before the encoding still reads.
	legacy := Files{"repos/localhost:5000/team/api/_trust/root.json": []byte("old")}
	if string(legacy.Repo("localhost:5000/team/api", "root.json")) != "old" {
		t.Error("legacy path not read")
	}
	if g, _, ok := ParseRepoFile("repos/localhost:5000/team/api/_trust/root.json"); !ok || g != "localhost:5000/team/api" {
		t.Errorf("legacy ParseRepoFile: %q %v", g, ok)
	}
}
