// Package bundle reads and writes keyrite's bundles — the directories that
// carry a ceremony's inputs (request) and outputs (signed) across the air
// gap — and is the only package that talks to a trust server.
//
// Every bundle has a manifest.json listing each file with its length and
// SHA-256. Bundles are written whole or not at all, never modified in place,
// and every read verifies the manifest first.
package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/keyrite/keyrite/internal/fsutil"
)

// ManifestName is the manifest's file name in every bundle.
const ManifestName = "manifest.json"

const manifestFormat = "keyrite-bundle/v1"

// Bundle kinds.
const (
	KindRequest = "request"
	KindSigned  = "signed"
	KindTrust   = "trust" // a trust store's pins, exported for another air-gapped machine
)

// Manifest lists every file of a bundle.
type Manifest struct {
	Format string  `json:"format"`
	Kind   string  `json:"kind"`
	Files  []Entry `json:"files"`
}

// Entry is one file of a bundle.
type Entry struct {
	Path   string `json:"path"`
	Length int64  `json:"length"`
	SHA256 string `json:"sha256"`
}

// Error is a bundle that fails verification.
type Error struct {
	Bundle string
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("bundle %s: %s", e.Bundle, e.Reason) }

// Files is a bundle's content, by slash-separated relative path.
type Files map[string][]byte

// BuildManifest computes the manifest of a set of files.
func BuildManifest(kind string, files Files) ([]byte, error) {
	m := Manifest{Format: manifestFormat, Kind: kind}
	for p, b := range files {
		if err := fsutil.CheckRelPath(p); err != nil {
			return nil, err
		}
		if p == ManifestName {
			return nil, fmt.Errorf("a bundle cannot hold a file named %s", ManifestName)
		}
		m.Files = append(m.Files, Entry{Path: p, Length: int64(len(b)), SHA256: SHA256Hex(b)})
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Write writes a bundle at dest, atomically; dest must not exist (an
// *fsutil.ExistsError if it does).
func Write(dest, kind string, files Files) error {
	man, err := BuildManifest(kind, files)
	if err != nil {
		return err
	}
	all := Files{ManifestName: man}
	for p, b := range files {
		all[p] = b
	}
	if IsTarPath(dest) {
		return writeTar(dest, all)
	}
	if err := fsutil.WriteTree(dest, all); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &fsutil.ExistsError{Path: dest, What: "bundle"}
		}
		return fmt.Errorf("writing bundle %s: %w", dest, err)
	}
	return nil
}

// Read reads a bundle directory and verifies it against its manifest: every
// listed file present with its length and hash, nothing unlisted, no
// symbolic links, the expected kind.
func Read(dir, kind string) (Files, error) {
	if isTar, err := bundleForm(dir); err != nil || isTar {
		if err != nil {
			return nil, err
		}
		files, _, err := readTar(dir, kind)
		return files, err
	}
	bad := func(format string, a ...any) error { return &Error{Bundle: dir, Reason: fmt.Sprintf(format, a...)} }
	raw, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, bad("no %s: not a keyrite bundle", ManifestName)
		}
		return nil, err
	}
	found := Files{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			return bad("%s is a symbolic link", rel)
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return bad("%s is not a regular file", rel)
		case rel == ManifestName:
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		found[rel] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := Check(dir, kind, raw, found); err != nil {
		return nil, err
	}
	return found, nil
}

// Check verifies files against a manifest.
func Check(name, kind string, manifest []byte, files Files) error {
	bad := func(format string, a ...any) error { return &Error{Bundle: name, Reason: fmt.Sprintf(format, a...)} }
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(manifest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return bad("%s is not valid: %v", ManifestName, err)
	}
	if m.Format != manifestFormat {
		return bad("unknown bundle format %q", m.Format)
	}
	if m.Kind != kind {
		return bad("is a %s bundle, expected a %s bundle", m.Kind, kind)
	}
	listed := map[string]bool{}
	for _, e := range m.Files {
		if err := fsutil.CheckRelPath(e.Path); err != nil {
			return bad("%v", err)
		}
		if listed[e.Path] {
			return bad("%s is listed twice in the manifest", e.Path)
		}
		listed[e.Path] = true
		b, ok := files[e.Path]
		if !ok {
			return bad("%s is listed in the manifest but missing", e.Path)
		}
		if int64(len(b)) != e.Length {
			return bad("%s has %d bytes, the manifest says %d: the file was changed", e.Path, len(b), e.Length)
		}
		if SHA256Hex(b) != e.SHA256 {
			return bad("%s does not match its SHA-256 in the manifest: the file was changed", e.Path)
		}
	}
	var extra []string
	for p := range files {
		if !listed[p] {
			extra = append(extra, p)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return bad("%s is not listed in the manifest (added, or its entry removed)", strings.Join(extra, ", "))
	}
	return nil
}

// Sub returns the files under a prefix, with the prefix removed.
func (f Files) Sub(prefix string) Files {
	out := Files{}
	prefix = strings.TrimSuffix(prefix, "/") + "/"
	for p, b := range f {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			out[rest] = b
		}
	}
	return out
}

// KindOf reads the kind a bundle's manifest declares, without checking
// anything else: to choose how to read it.
func KindOf(dir string) (string, error) {
	if isTar, err := bundleForm(dir); err != nil || isTar {
		if err != nil {
			return "", err
		}
		return tarKind(dir)
	}
	p := filepath.Join(dir, ManifestName)
	fi, err := os.Lstat(p)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() || fi.Size() > 64<<20 {
		return "", &Error{Bundle: dir, Reason: ManifestName + " is not a regular file of a sane size"}
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	return manifestKind(dir, b)
}

func manifestKind(name string, b []byte) (string, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return "", &Error{Bundle: name, Reason: fmt.Sprintf("%s is not valid: %v", ManifestName, err)}
	}
	return m.Kind, nil
}
