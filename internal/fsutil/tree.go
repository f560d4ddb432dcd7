package fsutil

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// WriteTree writes a whole directory tree at dest, or nothing: the files go
// into a hidden sibling directory first, are fsynced, and the directory is
// renamed into place. dest must not exist: if it does, or appears
// meanwhile, the error is an *ExistsError.
func WriteTree(dest string, files map[string][]byte) error {
	return WriteTreeMode(dest, files, 0o644, 0o755)
}

// WriteTreeMode is WriteTree with the files' and directories' permissions
// given: 0600 and 0700 for a tree of secrets.
func WriteTreeMode(dest string, files map[string][]byte, fileMode, dirMode os.FileMode) error {
	st, err := StageTree(dest, files, fileMode, dirMode)
	if err != nil {
		return err
	}
	return st.Commit()
}

// StageTree is WriteTreeMode up to the rename: the tree is written and
// synced in its hidden sibling; Commit renames it into place.
func StageTree(dest string, files map[string][]byte, fileMode, dirMode os.FileMode) (*Staged, error) {
	dest = filepath.Clean(dest)
	if _, err := os.Lstat(dest); err == nil {
		return nil, &ExistsError{Path: dest}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".partial-")
	if err != nil {
		return nil, err
	}
	// MkdirTemp joins without cleaning ("./.x.partial-1" for a relative
	// dest); the directories below are compared as filepath.Join cleans them.
	tmp = filepath.Clean(tmp)
	d, err := os.Open(tmp)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	lockPartial(d)
	st := &Staged{tmp: tmp, dest: dest, lock: d}
	if err := writeTreeIn(tmp, files, fileMode, dirMode); err != nil {
		st.Abort()
		return nil, err
	}
	return st, nil
}

// writeTreeIn writes files into the new directory tmp and syncs them.
func writeTreeIn(tmp string, files map[string][]byte, fileMode, dirMode os.FileMode) error {
	names := make([]string, 0, len(files))
	for n := range files {
		if err := CheckRelPath(n); err != nil {
			return err
		}
		names = append(names, n)
	}
	sort.Strings(names)
	// Each directory is made once, parents before children, then the
	// files, several at a time.
	dirs := map[string]bool{tmp: true}
	var mk []string
	for _, n := range names {
		for d := filepath.Dir(filepath.Join(tmp, filepath.FromSlash(n))); !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
			mk = append(mk, d)
		}
	}
	// One depth at a time, the directories of a depth at once.
	byDepth := map[int][]string{}
	maxDepth := 0
	for _, d := range mk {
		n := strings.Count(d, string(filepath.Separator))
		byDepth[n] = append(byDepth[n], d)
		maxDepth = max(maxDepth, n)
	}
	for depth := 0; depth <= maxDepth; depth++ {
		level := byDepth[depth]
		if err := Each(len(level), func(i int) error { return os.Mkdir(level[i], dirMode) }); err != nil {
			return err
		}
	}
	if err := Each(len(names), func(i int) error {
		return CreateWrite(filepath.Join(tmp, filepath.FromSlash(names[i])), files[names[i]], fileMode)
	}); err != nil {
		return err
	}
	if err := os.Chmod(tmp, dirMode); err != nil {
		return err
	}
	// Every file's data and every directory entry on disk before the
	// rename that makes the tree visible: one syncfs(2) of the tree's
	// filesystem, one journal commit, instead of an fsync (a commit each)
	// per file and directory.
	return SyncFS(tmp)
}

// SyncFS writes everything written on the filesystem holding dir to disk
// (syncfs(2)): the files and directories of a tree just written in it, or
// the temporaries of a batch (one journal commit instead of an fsync per
// file).
func SyncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// CheckRelPath refuses paths that could escape a bundle directory, and
// names that are not UTF-8 text (JSON, which manifests are, cannot hold
// them: a manifest would name another file).
func CheckRelPath(n string) error {
	if n == "" || !utf8.ValidString(n) || strings.HasPrefix(n, "/") || strings.Contains(n, "\\") || filepath.ToSlash(filepath.Clean(n)) != n ||
		n == ".." || strings.HasPrefix(n, "../") {
		return fmt.Errorf("invalid path %q in bundle", n)
	}
	return nil
}
