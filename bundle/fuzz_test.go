package bundle

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
)

// fuzzFiles turns fuzz input into a bundle's files: NAME=CONTENT blocks
// separated by NUL bytes.
func fuzzFiles(b []byte) Files {
	files := Files{}
	for _, part := range bytes.Split(b, []byte{0}) {
		name, content, ok := bytes.Cut(part, []byte("="))
		if ok {
			files[string(name)] = content
		}
	}
	return files
}

func encodeFiles(f Files) []byte {
	var parts [][]byte
	for n, b := range f {
		parts = append(parts, append([]byte(n+"="), b...))
	}
	return bytes.Join(parts, []byte{0})
}

// FuzzManifest: a manifest that checks against a set of files lists
// exactly those files with their lengths and hashes, within the limits;
// and the manifest BuildManifest makes for them checks.
func FuzzManifest(f *testing.F) {
	files := Files{"a.json": []byte(`{"a":1}`), RepoFile("example.com/app", "root.json"): []byte("root")}
	man, _ := BuildManifest(KindSigned, files)
	f.Add(man, encodeFiles(files))
	f.Add([]byte(`{"format":"keyrite-bundle/v1","kind":"signed","files":[{"path":"a","length":1,"sha256":"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"}]}`), []byte("a=a"))
	f.Add([]byte(`{"format":"keyrite-bundle/v1","kind":"signed","kind":"request","files":[]}`), []byte{})
	f.Add([]byte(`{"format":"keyrite-bundle/v1","kind":"signed","files":[{"path":"../x","length":0,"sha256":""}]}`), []byte("../x="))
	f.Add([]byte(`{"format":"keyrite-bundle/v1","kind":"signed","files":[{"path":"a","length":-1,"sha256":""},{"path":"a/b","length":0,"sha256":""}]}`), []byte("a=\x00a/b="))
	f.Fuzz(func(t *testing.T, manifest, content []byte) {
		files := fuzzFiles(content)
		if err := Check("b", KindSigned, manifest, files); err == nil {
			var m Manifest
			if err := json.Unmarshal(manifest, &m); err != nil {
				t.Fatalf("checked, but does not decode: %v", err)
			}
			if len(m.Files) != len(files) {
				t.Fatalf("checked with %d entries for %d files", len(m.Files), len(files))
			}
			var total int64
			for _, e := range m.Files {
				b, ok := files[e.Path]
				if !ok || int64(len(b)) != e.Length || SHA256Hex(b) != e.SHA256 || e.Length > FileLimit(e.Path) {
					t.Fatalf("checked, but %s does not match its entry %+v", e.Path, e)
				}
				if strings.HasPrefix(e.Path, "/") || strings.Contains(e.Path, "..") && strings.Contains("/"+e.Path+"/", "/../") {
					t.Fatalf("checked an escaping path %q", e.Path)
				}
				total += e.Length
			}
			if total > MaxBundleSize {
				t.Fatalf("checked %d bytes", total)
			}
		}
		built, err := BuildManifest(KindSigned, files)
		if err != nil {
			return // a name BuildManifest refuses
		}
		if err := Check("b", KindSigned, built, files); err != nil && !strings.Contains(err.Error(), "may hold") &&
			!strings.Contains(err.Error(), "as a file and as a directory") {
			t.Fatalf("BuildManifest's own manifest does not check: %v", err)
		}
	})
}

// FuzzParseRequest: a request bundle that parses has its format, each
// GUN once, and for each GUN a timestamp and a snapshot key that notary
// reads as the same key, public, of a type notary-server issues.
func FuzzParseRequest(f *testing.F) {
	ed := `{"keytype":"ed25519","keyval":{"private":null,"public":"Qy6Xk4T2DTOZwymk9H5l/jNfNr0tKNYeJZUZDYoSDvM="}}`
	info := `{"format":"keyrite-request/v1","server":"https://notary.example","fetched_at":"2026-01-01T00:00:00Z","repos":[{"gun":"example.com/app","exists":false,"root_version":0,"metadata":null}]}`
	f.Add([]byte(info), []byte(ed), []byte(ed))
	f.Add([]byte(info), []byte(`{"keytype":"ecdsa","keyval":{"private":null,"public":"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7VufUkE3xdvCJM6PpBqSMvgHrYiAp9ZMAwJHnLXRgcVg53q/XJ0yFrsQFKwwlP1uAp59FzNGmdAXePcCMA5vzw=="}}`), []byte(ed))
	f.Add([]byte(strings.Replace(info, `"repos":[`, `"repos":[{"gun":"example.com/app"},`, 1)), []byte(ed), []byte(ed))
	f.Add([]byte(info), []byte(strings.Replace(ed, "null", `"AAAA"`, 1)), []byte(ed))
	f.Fuzz(func(t *testing.T, info, ts, ss []byte) {
		files := Files{RequestInfoName: info}
		var probe RequestInfo
		json.Unmarshal(info, &probe)
		for _, r := range probe.Repos {
			if r.GUN != "" {
				files[RepoFile(r.GUN, "timestamp.key")] = ts
				files[RepoFile(r.GUN, "snapshot.key")] = ss
			}
		}
		r, err := parseRequest("req", files, nil)
		if err != nil {
			return
		}
		if r.Info.Format != requestFormat {
			t.Fatalf("format %q accepted", r.Info.Format)
		}
		seen := map[string]bool{}
		for _, repo := range r.Info.Repos {
			if seen[repo.GUN] {
				t.Fatalf("%s twice", repo.GUN)
			}
			seen[repo.GUN] = true
			for _, role := range []data.RoleName{data.CanonicalTimestampRole, data.CanonicalSnapshotRole} {
				k, err := r.ServerKey(repo.GUN, role)
				if err != nil {
					t.Fatalf("parsed, but %s %s: %v", repo.GUN, role, err)
				}
				checkServerKey(t, r.Files[RepoFile(repo.GUN, role.String()+".key")], k)
			}
		}
	})
}

// checkServerKey asserts what an accepted server key is.
func checkServerKey(t *testing.T, file []byte, k data.PublicKey) {
	t.Helper()
	if a := k.Algorithm(); a != data.ECDSAKey && a != data.ED25519Key {
		t.Fatalf("accepted a %s key", a)
	}
	var raw struct {
		KeyVal struct {
			Private []byte `json:"private"`
		} `json:"keyval"`
	}
	if json.Unmarshal(file, &raw) != nil || raw.KeyVal.Private != nil {
		t.Fatalf("accepted a key with a private part")
	}
	notary, err := data.UnmarshalPublicKey(file)
	if err != nil || notary.ID() != k.ID() || notary.Algorithm() != k.Algorithm() {
		t.Fatalf("keyrite reads key %s, notary %v (%v)", k.ID(), notary, err)
	}
	// What notary-server would serve for it reads as the same key.
	served, _ := json.Marshal(k)
	again, err := ParseServerKey(served)
	if err != nil || again.ID() != k.ID() {
		t.Fatalf("the key as notary-server serves it: %v", err)
	}
}

// FuzzParseServerKey: an accepted key is public, of a type notary-server
// issues, read by notary as the same key, and accepted again as served.
func FuzzParseServerKey(f *testing.F) {
	f.Add([]byte(`{"keytype":"ed25519","keyval":{"private":null,"public":"Qy6Xk4T2DTOZwymk9H5l/jNfNr0tKNYeJZUZDYoSDvM="}}`))
	f.Add([]byte(`{"keytype":"ecdsa","keyval":{"private":null,"public":"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7VufUkE3xdvCJM6PpBqSMvgHrYiAp9ZMAwJHnLXRgcVg53q/XJ0yFrsQFKwwlP1uAp59FzNGmdAXePcCMA5vzw=="}}`))
	f.Add([]byte(`{"keytype":"ed25519","keyval":{"public":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},"keyid":"x"}`))
	f.Add([]byte(`{"keytype":"ecdsa-x509","keyval":{"private":"","public":""}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseServerKey(b)
		if err != nil {
			return
		}
		checkServerKey(t, b, k)
	})
}

// FuzzVerifyTranscript: a transcript that verifies has one entry per
// line, numbered from 1, each naming the hash of the line before; every
// prefix of whole lines verifies too, and a transcript extended from it
// verifies with one more entry.
func FuzzVerifyTranscript(f *testing.F) {
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	tr, _ := NewTranscript(nil, "init", now)
	tr.Append("ceremony.start", map[string]any{"guns": []string{"example.com/app"}})
	tr.Append("repo.signed", map[string]any{"gun": "example.com/app"})
	f.Add(tr.Bytes())
	f.Add([]byte{})
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"seq":1,"time":"2026-01-01T00:00:00Z","command":"x","event":"e","prev":"0000000000000000000000000000000000000000000000000000000000000000","seq":2}` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := VerifyTranscript(b)
		if err != nil {
			return
		}
		lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
		if len(b) == 0 {
			lines = nil
		}
		if len(entries) != len(lines) {
			t.Fatalf("%d entries for %d lines", len(entries), len(lines))
		}
		prev := genesis
		for i, e := range entries {
			if e.Seq != i+1 || e.Prev != prev {
				t.Fatalf("entry %d: seq %d, prev %s, want %s", i, e.Seq, e.Prev, prev)
			}
			prev = SHA256Hex(lines[i])
		}
		if len(lines) > 0 {
			if TranscriptHead(b) != prev {
				t.Fatalf("head %s, last line's hash %s", TranscriptHead(b), prev)
			}
			cut := bytes.Join(lines[:len(lines)-1], []byte("\n"))
			if len(cut) > 0 {
				cut = append(cut, '\n')
			}
			if got, err := VerifyTranscript(cut); err != nil || len(got) != len(lines)-1 {
				t.Fatalf("a prefix does not verify: %v", err)
			}
		}
		next, err := NewTranscript(b, "sign", now)
		if err != nil {
			t.Fatalf("verified, but cannot be continued: %v", err)
		}
		if err := next.Append("more", nil); err != nil {
			t.Fatal(err)
		}
		if got, err := VerifyTranscript(next.Bytes()); err != nil || len(got) != len(entries)+1 {
			t.Fatalf("extended transcript: %d entries, %v", len(got), err)
		}
	})
}
