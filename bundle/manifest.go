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
	"path"
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
	Err    error // the cause, when there is one (a file too large, not regular...)
}

func (e *Error) Error() string { return fmt.Sprintf("bundle %s: %s", e.Bundle, e.Reason) }

func (e *Error) Unwrap() error { return e.Err }

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
	return write(dest, man, files)
}

// Staged is a bundle written whole and synced under a temporary name
// beside its place, and proven to hold exactly the files it was staged
// with: Commit puts it in place, Abort removes it.
type Staged struct{ st *fsutil.Staged }

// Stage writes files as a bundle beside dest, then proves it holds exactly
// them: read back through its manifest (every file's length and SHA-256,
// nothing else in the bundle) and that manifest equal, byte for byte, to
// the one built from files. Nothing is parsed again. A ceremony stages its
// bundle while it verifies the same files in memory, and commits it only
// if they verify. dest must not exist when it is committed.
func Stage(dest, kind string, files Files) (*Staged, error) {
	man, err := BuildManifest(kind, files)
	if err != nil {
		return nil, err
	}
	st, err := stage(dest, man, files)
	if err != nil {
		return nil, err
	}
	if err := checkWritten(st.Temp(), kind, man); err != nil {
		st.Abort()
		return nil, fmt.Errorf("the bundle written differs from what was verified (removed): %w", err)
	}
	return &Staged{st: st}, nil
}

// Commit renames the staged bundle into place; an existing bundle there is
// an *fsutil.ExistsError, and the staged one is removed.
func (s *Staged) Commit() error { return writeError(s.st.Dest(), s.st.Commit()) }

// Abort removes the staged bundle.
func (s *Staged) Abort() { s.st.Abort() }

// WriteExactly is Stage, then Commit: files already verified in memory,
// and proof that dest holds exactly them.
func WriteExactly(dest, kind string, files Files) error {
	s, err := Stage(dest, kind, files)
	if err != nil {
		return err
	}
	return s.Commit()
}

// checkWritten reads a bundle back and compares its manifest with man.
func checkWritten(dest, kind string, man []byte) error {
	_, raw, err := read(dest, kind)
	if err != nil {
		return err
	}
	if !bytes.Equal(raw, man) {
		return &Error{Bundle: dest, Reason: fmt.Sprintf("%s is not the manifest written", ManifestName)}
	}
	return nil
}

func write(dest string, man []byte, files Files) error {
	st, err := stage(dest, man, files)
	if err != nil {
		return err
	}
	return writeError(dest, st.Commit())
}

// stage writes the bundle's files and its manifest man whole beside dest,
// as one deterministic tar file when dest ends in .tar (TarBytes), else as
// a directory tree, and syncs them.
func stage(dest string, man []byte, files Files) (*fsutil.Staged, error) {
	all := Files{ManifestName: man}
	for p, b := range files {
		all[p] = b
	}
	if !IsTarPath(dest) {
		st, err := fsutil.StageTree(dest, all, 0o644, 0o755)
		return st, writeError(dest, err)
	}
	tb, err := TarBytes(all)
	if err != nil {
		return nil, err
	}
	st, err := fsutil.StageFile(dest, tb, 0o644, false)
	return st, writeError(dest, err)
}

// writeError names a bundle that exists as such, and any other error of
// its write with the bundle's path.
func writeError(dest string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrExist):
		return &fsutil.ExistsError{Path: dest, What: "bundle"}
	}
	return fmt.Errorf("writing bundle %s: %w", dest, err)
}

// Read reads a bundle directory and verifies it against its manifest: every
// listed file present with its length and hash, nothing unlisted, no
// symbolic links or other non-regular files, the expected kind, and every
// file within its size limit (FileLimit, MaxBundleSize). The manifest is
// read and checked first, then the directory is listed and every file's
// size compared with the manifest by stat: a file that is not listed, or
// whose size is not the one listed, is refused before any file is read.
func Read(dir, kind string) (Files, error) {
	files, _, err := read(dir, kind)
	return files, err
}

// read is Read, also returning the raw manifest.
func read(dir, kind string) (Files, []byte, error) {
	if isTar, err := bundleForm(dir); err != nil || isTar {
		if err != nil {
			return nil, nil, err
		}
		return readTar(dir, kind)
	}
	bad := func(format string, a ...any) error { return &Error{Bundle: dir, Reason: fmt.Sprintf(format, a...)} }
	raw, err := readIn(dir, ManifestName, MaxManifestSize)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, bad("no %s: not a keyrite bundle", ManifestName)
		}
		return nil, nil, err
	}
	m, err := parseManifest(dir, kind, raw)
	if err != nil {
		return nil, nil, err
	}
	// The tree is walked while the listed files are read; a fault the
	// walk finds is reported first, as if it had come before any read.
	treeErr := make(chan error, 1)
	go func() { treeErr <- checkTree(dir, m, bad) }()
	// Several files at a time: each open can wait on the filesystem.
	read := make([][]byte, len(m.Files))
	err = fsutil.Each(len(m.Files), func(i int) error {
		e := m.Files[i]
		// An empty file is read with a limit of one byte: fsutil.Read
		// takes no limit of zero, and a byte more is caught below.
		b, err := readIn(dir, e.Path, max(e.Length, 1))
		var tl *fsutil.TooLargeError
		if errors.As(err, &tl) {
			return bad("%s grew while it was read: the file was changed", e.Path)
		}
		read[i] = b
		return err
	})
	if terr := <-treeErr; terr != nil {
		return nil, nil, terr
	}
	if err != nil {
		return nil, nil, err
	}
	files := make(Files, len(m.Files))
	for i, e := range m.Files {
		files[e.Path] = read[i]
	}
	if err := checkFiles(dir, m, files); err != nil {
		return nil, nil, err
	}
	return files, raw, nil
}

// readIn reads one file of a bundle: a regular file (no symbolic link),
// within max bytes, refused as a bundle error naming it otherwise.
func readIn(dir, rel string, max int64) ([]byte, error) {
	b, err := fsutil.Read(filepath.Join(dir, filepath.FromSlash(rel)), fsutil.ReadOptions{Max: max, NoSymlink: true})
	var (
		nr *fsutil.NotRegularError
		tl *fsutil.TooLargeError
	)
	switch {
	case errors.As(err, &nr):
		return nil, &Error{Bundle: dir, Reason: fmt.Sprintf("%s is %s, not a regular file", rel, nr.Kind()), Err: err}
	case errors.As(err, &tl):
		return nil, &Error{Bundle: dir, Reason: fmt.Sprintf("%s is %d bytes, more than the %d it may hold", rel, tl.Size, tl.Max), Err: err}
	}
	return b, err
}

// Check verifies files against a manifest.
func Check(name, kind string, manifest []byte, files Files) error {
	m, err := parseManifest(name, kind, manifest)
	if err != nil {
		return err
	}
	return checkFiles(name, m, files)
}

// parseManifest decodes a manifest strictly and checks it on its own: the
// format and kind, each path valid and listed once, each length within its
// file's limit and the whole within MaxBundleSize.
func parseManifest(name, kind string, manifest []byte) (*Manifest, error) {
	bad := func(format string, a ...any) error { return &Error{Bundle: name, Reason: fmt.Sprintf(format, a...)} }
	if int64(len(manifest)) > MaxManifestSize {
		return nil, bad("%s is %d bytes, more than the %d it may hold", ManifestName, len(manifest), MaxManifestSize)
	}
	var m Manifest
	if err := decodeStrict(manifest, &m); err != nil {
		return nil, bad("%s is not valid: %v", ManifestName, err)
	}
	if m.Format != manifestFormat {
		return nil, bad("unknown bundle format %q", m.Format)
	}
	if m.Kind != kind {
		return nil, bad("is a %s bundle, expected a %s bundle", m.Kind, kind)
	}
	listed := map[string]bool{}
	var total int64
	for _, e := range m.Files {
		if err := fsutil.CheckRelPath(e.Path); err != nil {
			return nil, bad("%v", err)
		}
		if e.Path == ManifestName {
			return nil, bad("the manifest lists itself")
		}
		if listed[e.Path] {
			return nil, bad("%s is listed twice in the manifest", e.Path)
		}
		listed[e.Path] = true
		if max := FileLimit(e.Path); e.Length < 0 || e.Length > max {
			return nil, bad("the manifest lists %s with %d bytes, more than the %d it may hold", e.Path, e.Length, max)
		}
		if total += e.Length; total > MaxBundleSize {
			return nil, bad("the manifest lists more than the %d bytes a bundle may hold", int64(MaxBundleSize))
		}
	}
	// A directory listed as a file and as a parent cannot be both.
	for p := range listed {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if listed[d] {
				return nil, bad("%s is listed as a file and as a directory", d)
			}
		}
	}
	return &m, nil
}

// checkFiles verifies files against a parsed manifest.
func checkFiles(name string, m *Manifest, files Files) error {
	bad := func(format string, a ...any) error { return &Error{Bundle: name, Reason: fmt.Sprintf(format, a...)} }
	listed := map[string]bool{}
	for _, e := range m.Files {
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
