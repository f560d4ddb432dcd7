package bundle

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/keyrite/keyrite/internal/fsutil"
)

// A bundle is a directory, or a single tar file (any path ending in .tar
// when written; any regular file when read) holding the same files: one
// file to copy, hash and read the hash of aloud.
//
// The tar is deterministic: entries sorted by name, regular files only (no
// directory entries), mode 0644, owner 0:0 with no names, modification time
// the Unix epoch, so the same bundle always has the same SHA-256.

// Limits of a tar bundle, checked before anything is read into memory.
const (
	maxTarEntry   = 64 << 20 // one file
	maxTarTotal   = 1 << 30  // every file together
	maxTarEntries = 100000
)

// TarSuffix marks a bundle output written as a single tar file.
const TarSuffix = ".tar"

// IsTarPath says whether an output path names a tar bundle.
func IsTarPath(p string) bool { return strings.HasSuffix(p, TarSuffix) }

var tarEpoch = time.Unix(0, 0).UTC()

// NotFoundError is a bundle path that does not exist: a mistyped argument,
// not a bundle that failed verification.
type NotFoundError struct{ Path string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("bundle %s does not exist (a bundle is a directory or a .tar file)", e.Path)
}

func (e *NotFoundError) Is(target error) bool { return target == fs.ErrNotExist }

// bundleForm says whether a bundle to read is a tar file: a regular file
// is read as a tar, a directory as a directory.
func bundleForm(p string) (isTar bool, err error) {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, &NotFoundError{Path: p}
	case err != nil:
		return false, err
	case fi.Mode().IsRegular():
		return true, nil
	case fi.IsDir():
		return false, nil
	}
	return false, &Error{Bundle: p, Reason: "is neither a directory nor a regular (.tar) file"}
}

// TarBytes is the deterministic tar of a bundle's files (the manifest
// among them).
func TarBytes(all Files) ([]byte, error) {
	names := make([]string, 0, len(all))
	for n := range all {
		if err := fsutil.CheckRelPath(n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		b := all[n]
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(b)), ModTime: tarEpoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// readTar reads a tar bundle with the refusals of a directory's and more:
// every entry a regular file with a clean relative name, no name twice, no
// file where another needs a directory, each file and the whole within
// the limits, nothing after the end of the archive; then the manifest
// check. It returns the files without the manifest, and the manifest.
func readTar(p, kind string) (Files, []byte, error) {
	bad := func(format string, a ...any) error { return &Error{Bundle: p, Reason: fmt.Sprintf(format, a...)} }
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	found := Files{}
	var manifest []byte
	var total int64
	tr := tar.NewReader(f)
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, bad("is not a valid tar file: %v", err)
		}
		if n >= maxTarEntries {
			return nil, nil, bad("holds more than %d entries", maxTarEntries)
		}
		name := hdr.Name
		if err := fsutil.CheckRelPath(name); err != nil {
			return nil, nil, bad("%v", err)
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
		case tar.TypeSymlink:
			return nil, nil, bad("%s is a symbolic link", name)
		case tar.TypeLink:
			return nil, nil, bad("%s is a hard link", name)
		default:
			return nil, nil, bad("%s is not a regular file (tar type %q)", name, hdr.Typeflag)
		}
		if _, dup := found[name]; dup || (name == ManifestName && manifest != nil) {
			return nil, nil, bad("%s appears twice in the tar", name)
		}
		if hdr.Size < 0 || hdr.Size > maxTarEntry {
			return nil, nil, bad("%s is %d bytes, more than the %d a bundle file may have", name, hdr.Size, maxTarEntry)
		}
		if total += hdr.Size; total > maxTarTotal {
			return nil, nil, bad("holds more than %d bytes", maxTarTotal)
		}
		b := make([]byte, hdr.Size)
		if _, err := io.ReadFull(tr, b); err != nil {
			return nil, nil, bad("%s is cut short: %v", name, err)
		}
		if name == ManifestName {
			manifest = b
			continue
		}
		found[name] = b
	}
	// Nothing may hide after the end of the archive.
	rest, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if err != nil {
		return nil, nil, err
	}
	if len(rest) > 1<<20 || bytes.ContainsFunc(rest, func(r rune) bool { return r != 0 }) {
		return nil, nil, bad("holds data after the end of the tar archive")
	}
	for name := range found {
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if _, clash := found[d]; clash || d == ManifestName {
				return nil, nil, bad("%s is both a file and a directory", d)
			}
		}
	}
	if manifest == nil {
		return nil, nil, bad("no %s: not a keyrite bundle", ManifestName)
	}
	if err := Check(p, kind, manifest, found); err != nil {
		return nil, nil, err
	}
	return found, manifest, nil
}

// tarKind reads the kind a tar bundle's manifest declares.
func tarKind(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err != nil {
			return "", &Error{Bundle: p, Reason: fmt.Sprintf("no %s found in the tar", ManifestName)}
		}
		if hdr.Name != ManifestName {
			continue
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size > maxTarEntry {
			return "", &Error{Bundle: p, Reason: ManifestName + " is not a regular file of a sane size"}
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return "", err
		}
		return manifestKind(p, b)
	}
}
