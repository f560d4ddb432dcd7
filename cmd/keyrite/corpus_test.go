package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/internal/testenv"
)

// TestBadInputCorpus attacks what crosses the air gap, file by file. From
// a real request bundle of two new GUNs (init), a real signed bundle made
// from it (verify, sign) and a real request bundle of the same GUNs once
// published (refresh), it generates well over a hundred doctored copies:
// every file of each bundle altered by one byte, truncated, emptied,
// replaced by the other GUN's, or removed, each with the manifest as it
// was and rebuilt as a forger would; files added; symbolic links in place
// of files and directories; an 8 GiB sparse file listed at its size; named
// pipes; JSON objects with a key twice; and every server key a forger
// could put in a request bundle. Each case runs the command that reads
// that bundle and must exit with the expected code (4: a bundle that fails
// verification) with one error line naming the file or GUN, write no
// output, and leave the token's keys as they were.
func TestBadInputCorpus(t *testing.T) {
	h := testenv.NewSoftHSM(t, "corpus")
	srv := testenv.StartNotaryServer(t)
	base := t.TempDir()
	p := func(name string) string { return filepath.Join(base, name) }
	guns := []string{"example.com/corpus/app", "example.com/corpus/web"}
	dev := "pkcs11:token=corpus"
	rootKey := dev + ";object=root"
	with := func(args ...string) []string { return append(args, "--pin-file", h.PINFile, "--module", h.Module) }

	mustKeyrite(t, with("key", "generate", "--device", dev, "--label", "root")...)
	mustKeyrite(t, append([]string{"fetch", "--server", srv.URL, "--tls-ca", srv.CAFile, "-o", p("request")}, guns...)...)
	mustKeyrite(t, append(with("init", "--in", p("request"), "-o", p("signed"), "--root-key", rootKey), guns...)...)
	mustKeyrite(t, "publish", "--server", srv.URL, "--tls-ca", srv.CAFile, p("signed"))
	mustKeyrite(t, append([]string{"fetch", "--server", srv.URL, "--tls-ca", srv.CAFile, "-o", p("current")}, guns...)...)
	keysBefore := mustKeyrite(t, with("key", "list", "--device", dev)...)

	// The commands each kind of bundle goes through.
	type run struct {
		name string
		args func(in, out string) []string
	}
	commands := map[string][]run{
		"signed": {
			{"verify", func(in, _ string) []string { return []string{"verify", in} }},
			{"sign", func(in, out string) []string { return with("sign", in, "--key", rootKey, "-o", out) }},
		},
		"request": {{"init", func(in, out string) []string {
			return append(with("init", "--in", in, "-o", out, "--root-key", rootKey), guns...)
		}}},
		"current": {{"refresh", func(in, out string) []string {
			return append(with("refresh", "--in", in, "-o", out, "--root-key", rootKey), guns...)
		}}},
	}

	cases := corpusCases(t, base, guns)
	if len(cases) < 100 {
		t.Fatalf("only %d cases", len(cases))
	}
	t.Logf("%d doctored bundles", len(cases))
	start := time.Now()
	runs := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "in")
			copyTree(t, p(c.base), dir)
			c.doctor(t, dir)
			for _, r := range commands[c.base] {
				out := filepath.Join(t.TempDir(), "out")
				_, stderr, code := runKeyrite(t, r.args(dir, out)...)
				runs++
				want := c.code
				if want == 0 {
					want = exitVerifyKO
				}
				if code != want {
					t.Errorf("%s: exit %d, want %d\n%s", r.name, code, want, stderr)
				}
				checkOneErrorLine(t, r.name, stderr, c.names)
				if _, err := os.Lstat(out); err == nil {
					t.Errorf("%s wrote %s", r.name, out)
				}
				if r.name != "verify" {
					if after := mustKeyrite(t, with("key", "list", "--device", dev)...); after != keysBefore {
						t.Errorf("%s changed the token's keys:\n%s\nwas:\n%s", r.name, after, keysBefore)
					}
				}
			}
		})
	}
	t.Logf("%d commands in %v", runs, time.Since(start).Round(time.Millisecond))
}

// checkOneErrorLine checks that a refusal is one error line naming what
// was doctored, and a hint.
func checkOneErrorLine(t *testing.T, cmd, stderr string, names []string) {
	t.Helper()
	var errLines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "keyrite: error: ") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 {
		t.Errorf("%s: %d error lines, want 1:\n%s", cmd, len(errLines), stderr)
		return
	}
	for _, n := range names {
		if strings.Contains(errLines[0], n) {
			return
		}
	}
	t.Errorf("%s: the error names none of %q:\n%s", cmd, names, errLines[0])
}

// badCase is one doctored bundle.
type badCase struct {
	name   string
	base   string // signed, request (for init) or current (for refresh)
	doctor func(t *testing.T, dir string)
	code   int      // expected exit code; 0 means 4
	names  []string // the error line must hold one of these
}

// corpusCases generates the doctored bundles from the files the base
// bundles hold.
func corpusCases(t *testing.T, base string, guns []string) []badCase {
	var cases []badCase
	other := func(f string) string {
		for i, g := range guns {
			if strings.Contains(f, "/"+g+"/") {
				return strings.Replace(f, "/"+g+"/", "/"+guns[1-i]+"/", 1)
			}
		}
		return ""
	}
	gunOf := func(f string) string {
		for _, g := range guns {
			if strings.Contains(f, "/"+g+"/") {
				return g
			}
		}
		return ""
	}
	namesFor := func(f string) []string {
		n := []string{f, strings.TrimPrefix(f, "request/"), path.Base(f)}
		if g := gunOf(f); g != "" {
			n = append(n, g)
		}
		if strings.HasSuffix(f, bundle.TranscriptName) {
			n = append(n, "transcript")
		}
		return n
	}
	edits := []struct {
		name string
		edit func(b []byte) []byte
	}{
		{"one byte changed", func(b []byte) []byte {
			c := bytes.Clone(b)
			// In a server key, a byte of its syntax: a changed public key
			// that is still a well-formed key of another name cannot be
			// told from a new server key offline (see serverKeyCases).
			if i := bytes.Index(c, []byte(`"keyval"`)); i >= 0 {
				c[i+1] ^= 1
				return c
			}
			c[len(c)/2] ^= 1
			return c
		}},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"emptied", func([]byte) []byte { return nil }},
	}
	for _, kind := range []string{"signed", "request", "current"} {
		files := listFiles(t, filepath.Join(base, kind))
		for _, f := range files {
			// Which manifests a forger rebuilds: none, or the outer one
			// (and for the request bundle inside a signed bundle, the
			// inner one as well).
			rebuilds := []string{"", "outer"}
			if strings.HasPrefix(f, "request/") && f != "request/"+bundle.ManifestName {
				rebuilds = append(rebuilds, "both")
			}
			if f == bundle.ManifestName {
				rebuilds = []string{""}
			}
			for _, rb := range rebuilds {
				suffix := map[string]string{"": "", "outer": ", manifest rebuilt", "both": ", both manifests rebuilt"}[rb]
				for _, e := range edits {
					cases = append(cases, badCase{name: fmt.Sprintf("%s/%s %s%s", kind, f, e.name, suffix), base: kind, names: namesFor(f),
						doctor: func(t *testing.T, dir string) {
							editFile(t, dir, f, e.edit)
							rebuild(t, dir, kind, rb)
						}})
				}
				if o := other(f); o != "" {
					cases = append(cases, badCase{name: fmt.Sprintf("%s/%s replaced by the other GUN's%s", kind, f, suffix), base: kind,
						names: append(namesFor(f), namesFor(o)...),
						doctor: func(t *testing.T, dir string) {
							b := readFile(t, filepath.Join(dir, o))
							editFile(t, dir, f, func([]byte) []byte { return b })
							rebuild(t, dir, kind, rb)
						}})
				}
				cases = append(cases, badCase{name: fmt.Sprintf("%s/%s removed%s", kind, f, suffix), base: kind, names: namesFor(f),
					doctor: func(t *testing.T, dir string) {
						if err := os.Remove(filepath.Join(dir, f)); err != nil {
							t.Fatal(err)
						}
						rebuild(t, dir, kind, rb)
					}})
			}
		}
		app := strings.TrimSuffix(bundle.RepoFile(guns[0], "x"), "x")
		if kind == "signed" {
			app = "request/" + app
		}
		// Files added, where a bundle's files are and at its top.
		for _, extra := range []string{"notes.txt", app + "notes.txt", bundle.RepoFile("example.com/corpus/evil", "root.json")} {
			for _, rb := range []string{"", "outer"} {
				extra, rb := extra, rb
				c := badCase{name: fmt.Sprintf("%s/%s added%s", kind, extra, map[string]string{"": "", "outer": ", manifest rebuilt"}[rb]),
					base: kind, names: append(namesFor(extra), "repos/example.com/corpus/evil/"), doctor: func(t *testing.T, dir string) {
						writeAt(t, filepath.Join(dir, extra), []byte("{}\n"))
						rebuild(t, dir, kind, rb)
					}}
				cases = append(cases, c)
			}
		}
		// A symbolic link to an identical copy, in place of a file and of
		// a directory.
		link := app + "timestamp.key"
		cases = append(cases, badCase{name: kind + "/" + link + " a symbolic link to an identical copy", base: kind, names: []string{link},
			doctor: func(t *testing.T, dir string) { symlinkToCopy(t, dir, link) }})
		linkDir := strings.TrimSuffix(app, "/")
		cases = append(cases, badCase{name: kind + "/" + linkDir + " a symbolic link to an identical copy", base: kind,
			names:  []string{path.Dir(path.Dir(linkDir)), "repos/example.com", "request/repos"},
			doctor: func(t *testing.T, dir string) { symlinkToCopy(t, dir, path.Dir(path.Dir(linkDir))) }})
		// An 8 GiB sparse file listed at its size, and in place of one
		// listed at its real size.
		big := app + "snapshot.key"
		cases = append(cases, badCase{name: kind + "/" + big + " 8 GiB sparse, listed at its size", base: kind, names: []string{big},
			doctor: func(t *testing.T, dir string) {
				if err := os.Truncate(filepath.Join(dir, big), 8<<30); err != nil {
					t.Fatal(err)
				}
				setManifestLength(t, dir, big, 8<<30)
			}})
		cases = append(cases, badCase{name: kind + "/" + big + " 8 GiB sparse", base: kind, names: []string{big},
			doctor: func(t *testing.T, dir string) {
				if err := os.Truncate(filepath.Join(dir, big), 8<<30); err != nil {
					t.Fatal(err)
				}
			}})
		// Named pipes, listed and not: refused without blocking.
		cases = append(cases, badCase{name: kind + "/" + big + " a named pipe", base: kind, names: []string{big},
			doctor: func(t *testing.T, dir string) {
				os.Remove(filepath.Join(dir, big))
				if err := unix.Mkfifo(filepath.Join(dir, big), 0o644); err != nil {
					t.Fatal(err)
				}
			}})
		cases = append(cases, badCase{name: kind + "/pipe added", base: kind, names: []string{"pipe"},
			doctor: func(t *testing.T, dir string) {
				if err := unix.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
					t.Fatal(err)
				}
			}})
	}
	cases = append(cases, duplicateKeyCases(guns)...)
	cases = append(cases, serverKeyCases(t, guns)...)
	return cases
}

// duplicateKeyCases put a key twice in a JSON object of each kind of file
// keyrite reads, the manifest rebuilt.
func duplicateKeyCases(guns []string) []badCase {
	app := func(name string) string { return bundle.RepoFile(guns[0], name) }
	dup := []struct {
		base, file, old, new string
		names                []string
	}{
		{"signed", bundle.ManifestName, `"kind": "signed",`, `"kind": "signed", "kind": "signed",`, []string{bundle.ManifestName}},
		{"request", bundle.ManifestName, `"kind": "request",`, `"kind": "request", "kind": "request",`, []string{bundle.ManifestName}},
		{"signed", bundle.SignedInfoName, `"command": "init",`, `"command": "init", "command": "init",`, []string{bundle.SignedInfoName}},
		{"request", bundle.RequestInfoName, `"format": "keyrite-request/v1",`, `"format": "keyrite-request/v1", "format": "keyrite-request/v1",`, []string{bundle.RequestInfoName}},
		{"signed", bundle.TranscriptName, `"command":"init",`, `"command":"init","command":"init",`, []string{"transcript"}},
		{"request", app("timestamp.key"), `"keytype":`, `"keytype":"ecdsa","keytype":`, []string{guns[0]}},
		{"current", app("timestamp.key"), `"keytype":`, `"keytype":"ecdsa","keytype":`, []string{guns[0]}},
		{"signed", app("root.json"), `"_type":"Root",`, `"_type":"Root","_type":"Root",`, []string{guns[0], "root.json"}},
		{"signed", app("targets.json"), `"_type":"Targets",`, `"_type":"Targets","_type":"Targets",`, []string{guns[0], "targets.json"}},
		{"current", app("root.json"), `"_type":"Root",`, `"_type":"Root","_type":"Root",`, []string{guns[0], "root.json"}},
		{"current", app("targets.json"), `"_type":"Targets",`, `"_type":"Targets","_type":"Targets",`, []string{guns[0], "targets.json"}},
	}
	var cases []badCase
	for _, d := range dup {
		rebuildWhat := "outer"
		if d.file == bundle.ManifestName {
			rebuildWhat = ""
		}
		cases = append(cases, badCase{name: fmt.Sprintf("%s/%s with a key twice", d.base, d.file), base: d.base, names: d.names,
			doctor: func(t *testing.T, dir string) {
				editFile(t, dir, d.file, func(b []byte) []byte {
					if !bytes.Contains(b, []byte(d.old)) {
						t.Fatalf("%s holds no %s", d.file, d.old)
					}
					return bytes.Replace(b, []byte(d.old), []byte(d.new), 1)
				})
				rebuild(t, dir, d.base, rebuildWhat)
			}})
	}
	return cases
}

// serverKeyCases put each refused server key variant in place of the
// first GUN's timestamp key: in the request bundle (init), the current
// one (refresh) and the one a signed bundle carries (verify, sign).
func serverKeyCases(t *testing.T, guns []string) []badCase {
	vs, err := testenv.ServerKeyVariants()
	if err != nil {
		t.Fatal(err)
	}
	var cases []badCase
	for _, v := range vs {
		if v.Reason == "" {
			continue
		}
		for _, kind := range []string{"request", "current", "signed"} {
			f, rb := bundle.RepoFile(guns[0], "timestamp.key"), "outer"
			if kind == "signed" {
				f, rb = "request/"+f, "both"
			}
			cases = append(cases, badCase{name: fmt.Sprintf("%s/server key: %s", kind, v.Name), base: kind, names: []string{guns[0]},
				doctor: func(t *testing.T, dir string) {
					editFile(t, dir, f, func([]byte) []byte { return v.File })
					rebuild(t, dir, kind, rb)
				}})
		}
	}
	return cases
}

func listFiles(t *testing.T, dir string) []string {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func writeAt(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func editFile(t *testing.T, dir, f string, edit func([]byte) []byte) {
	t.Helper()
	p := filepath.Join(dir, f)
	b := readFile(t, p)
	if err := os.WriteFile(p, edit(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// symlinkToCopy moves a file or directory out of the bundle and puts a
// symbolic link to it in its place: the same bytes, reached through a link.
func symlinkToCopy(t *testing.T, dir, rel string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	moved := filepath.Join(filepath.Dir(dir), "moved-"+filepath.Base(rel))
	if err := os.Rename(p, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(moved, p); err != nil {
		t.Fatal(err)
	}
}

// rebuild rewrites manifests as a forger would (base says which kind of
// bundle dir is): "" none, "outer" the bundle's, "both" the request bundle's inside a signed bundle and then
// the outer one.
func rebuild(t *testing.T, dir, base, what string) {
	t.Helper()
	if what == "both" {
		remanifestKind(t, filepath.Join(dir, "request"), bundle.KindRequest)
	}
	if what != "" {
		kind := bundle.KindRequest
		if base == "signed" {
			kind = bundle.KindSigned
		}
		remanifestKind(t, dir, kind)
	}
}

func remanifestKind(t *testing.T, dir, kind string) {
	t.Helper()
	files := bundle.Files{}
	for _, f := range listFiles(t, dir) {
		if f != bundle.ManifestName {
			files[f] = readFile(t, filepath.Join(dir, f))
		}
	}
	man, err := bundle.BuildManifest(kind, files)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, bundle.ManifestName), man, 0o644); err != nil {
		t.Fatal(err)
	}
}

func setManifestLength(t *testing.T, dir, f string, n int64) {
	t.Helper()
	var m bundle.Manifest
	if err := json.Unmarshal(readFile(t, filepath.Join(dir, bundle.ManifestName)), &m); err != nil {
		t.Fatal(err)
	}
	for i := range m.Files {
		if m.Files[i].Path == f {
			m.Files[i].Length = n
		}
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, bundle.ManifestName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
