package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/keyrite/keyrite/internal/fsutil"
	"golang.org/x/sys/unix"
)

// packsDir holds the packs: each the raw root.json bytes one batch added,
// concatenated, created under its final name and never changed. A pack
// state.json does not name was left by a writer killed before its commit
// (or was dropped by a compaction or a forget), and is removed under the
// lock.
const packsDir = "packs"

// packName is a pack's name, and the only thing state.json may name: no
// path, so no root is read from outside packs/.
var packName = regexp.MustCompile(`^[0-9]{8,18}\.pack$`)

// maxPack bounds a pack: a read of one root checks it is within.
const maxPack = 1 << 36

func packFile(seq int64) string { return fmt.Sprintf("%08d.pack", seq) }

func packSeq(name string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(name, ".pack"), 10, 64)
	return n
}

func (s *Store) packPath(name string) string { return filepath.Join(s.Dir, packsDir, name) }

// reader reads roots, opening each pack once.
type reader struct {
	s     *Store
	packs map[string]*os.File
}

func (s *Store) newReader() *reader { return &reader{s: s, packs: map[string]*os.File{}} }

func (rd *reader) close() {
	for _, f := range rd.packs {
		f.Close()
	}
}

// root reads the bytes ref names and checks them against it: a pack
// shorter than the state says, or bytes that do not hash to the SHA-256
// recorded, are refused (a *DamagedError), never returned. The pack is
// read as the store's other files are: no symbolic link, private, bounded.
//
// The trust store is this machine's own root of trust, as its format-1
// files were: whoever can write it can rewrite a pack and its SHA-256 in
// state.json together, and is outside the threat model. These checks
// catch a damaged disk, a torn or truncated file, and a state.json that
// names a file outside packs/.
func (rd *reader) root(gun string, ref *rootRef) ([]byte, error) {
	if ref.data != nil {
		return bytes.Clone(ref.data), nil
	}
	if ref.path != "" {
		return readFormat1Root(ref.path)
	}
	path := rd.s.packPath(ref.Pack)
	if !packName.MatchString(ref.Pack) {
		return nil, &DamagedError{Dir: rd.s.Dir, Path: rd.s.statePath(), Reason: fmt.Sprintf("%s: root version %d is in %q, not a pack of packs/", gun, ref.Version, ref.Pack)}
	}
	f := rd.packs[ref.Pack]
	if f == nil {
		var err error
		f, err = fsutil.Open(path, fsutil.ReadOptions{Max: maxPack, NoSymlink: true, Private: true, What: "trust store pack"})
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &DamagedError{Dir: rd.s.Dir, Path: path, Reason: fmt.Sprintf("missing, and state.json names it for root version %d of %s", ref.Version, gun), gone: true}
		}
		if err != nil {
			return nil, err
		}
		rd.packs[ref.Pack] = f
	}
	damaged := func(format string, a ...any) error {
		return &DamagedError{Dir: rd.s.Dir, Path: path, Reason: fmt.Sprintf("root version %d of %s: ", ref.Version, gun) + fmt.Sprintf(format, a...)}
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if end := ref.Offset + ref.Length; fi.Size() < end {
		return nil, damaged("the pack is %d bytes, and state.json puts the root at bytes %d to %d (truncated)", fi.Size(), ref.Offset, end)
	}
	b := make([]byte, ref.Length)
	if _, err := f.ReadAt(b, ref.Offset); err != nil {
		return nil, fmt.Errorf("trust store %s: %w", rd.s.Dir, err)
	}
	if sha256Hex(b) != ref.SHA256 {
		return nil, damaged("its bytes do not match the SHA-256 state.json records")
	}
	return b, nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// createSynced creates path (never over a file or through a link: see
// fsutil.CreateWrite), writes data and fsyncs it; on failure nothing is
// left.
func createSynced(path string, data []byte) error {
	if err := fsutil.CreateWrite(path, data, 0o600); err != nil {
		return err
	}
	if err := syncFile(path); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// syncFile fsyncs a file just written.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
