package bundle

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/keyrite/keyrite/internal/fsutil"
)

// checkTree walks a bundle directory against its manifest: nothing
// unlisted (the first few named, and how many), no symbolic link or other
// non-regular file, every listed file present with the size listed.
func checkTree(dir string, m *Manifest, bad func(format string, a ...any) error) error {
	listed := make(map[string]Entry, len(m.Files))
	dirs := map[string]bool{".": true}
	for _, e := range m.Files {
		listed[e.Path] = e
		for d := path.Dir(e.Path); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	// The first unlisted names, in order, and how many there are.
	var unlisted []string
	nUnlisted := 0
	unlist := func(p string) {
		nUnlisted++
		unlisted = append(unlisted, p)
		sort.Strings(unlisted)
		unlisted = unlisted[:min(len(unlisted), maxUnlistedNamed)]
	}
	seen := map[string]bool{}
	var walk func(rel string) error
	walk = func(rel string) error {
		d, err := fsutil.OpenDir(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		defer d.Close()
		for {
			// In batches: a directory of millions of entries is
			// counted, never held.
			ents, err := d.ReadDir(256)
			for _, ent := range ents {
				p := path.Join(rel, ent.Name())
				t := ent.Type()
				switch {
				case p == ManifestName:
				case t&fs.ModeSymlink != 0:
					return bad("%s is a symbolic link", p)
				case t.IsDir() && dirs[p]:
					if err := walk(p); err != nil {
						return err
					}
				case t.IsDir():
					unlist(p + "/")
				case !t.IsRegular():
					return bad("%s is %s, not a regular file", p, fsutil.TypeName(t))
				default:
					e, ok := listed[p]
					if !ok {
						unlist(p)
						continue
					}
					st, err := ent.Info()
					if err != nil {
						return err
					}
					if st.Size() != e.Length {
						return bad("%s has %d bytes, the manifest says %d: the file was changed", p, st.Size(), e.Length)
					}
					seen[p] = true
				}
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	if err := walk("."); err != nil {
		return err
	}
	if nUnlisted > 0 {
		names := strings.Join(unlisted, ", ")
		if nUnlisted > len(unlisted) {
			names += fmt.Sprintf(" and %d more", nUnlisted-len(unlisted))
		}
		return bad("%s is not listed in the manifest (added, or its entry removed)", names)
	}
	for _, e := range m.Files {
		if !seen[e.Path] {
			return bad("%s is listed in the manifest but missing", e.Path)
		}
	}
	return nil
}
