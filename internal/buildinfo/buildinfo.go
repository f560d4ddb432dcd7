// Package buildinfo says which keyrite this is: its version, the VCS
// revision it was built from and whether the tree was dirty, the Go
// version, and the versions of the libraries a ceremony's trust rests on.
// Bundles and transcripts record it, so an auditor knows what made them.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// Module is the keyrite module path.
const Module = "github.com/keyrite/keyrite"

// Dependencies are the libraries reported, by the name keyrite gives them.
var Dependencies = []struct{ Name, Path string }{
	{"notary", "github.com/theupdateframework/notary"},
	{"piv-go", "github.com/go-piv/piv-go/v2"},
	{"pkcs11", "github.com/miekg/pkcs11"},
	{"age", "filippo.io/age"},
}

// Info is what keyrite reports about itself.
type Info struct {
	Version      string            `json:"version"`            // the module version, "(devel)" for a source build
	Revision     string            `json:"revision,omitempty"` // VCS revision, when the build recorded one
	RevisionTime string            `json:"revision_time,omitempty"`
	Dirty        bool              `json:"dirty"` // built from a tree with uncommitted changes
	Go           string            `json:"go"`
	Dependencies map[string]string `json:"dependencies"`
}

var (
	once sync.Once
	info Info
)

// Get reads the running binary's build information (once).
func Get() Info {
	once.Do(func() { info = read() })
	deps := make(map[string]string, len(info.Dependencies))
	for k, v := range info.Dependencies {
		deps[k] = v
	}
	out := info
	out.Dependencies = deps
	return out
}

func read() Info {
	in := Info{Version: "(unknown)", Go: runtime.Version(), Dependencies: map[string]string{}}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return in
	}
	if bi.Main.Version != "" {
		in.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		in.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.RevisionTime = s.Value
		case "vcs.modified":
			in.Dirty = s.Value == "true"
		}
	}
	byPath := map[string]string{}
	for _, d := range bi.Deps {
		v := d.Version
		if d.Replace != nil {
			v = d.Replace.Version + " (replaces " + d.Version + ")"
		}
		byPath[d.Path] = v
	}
	for _, d := range Dependencies {
		if v, ok := byPath[d.Path]; ok {
			in.Dependencies[d.Name] = v
		}
	}
	return in
}

// String is the one-line form: "keyrite VERSION (REVISION[, dirty]) GO".
func (i Info) String() string {
	s := "keyrite " + i.Version
	if i.Revision != "" {
		r := i.Revision
		if len(r) > 12 {
			r = r[:12]
		}
		if i.Dirty {
			r += ", dirty"
		}
		s += " (" + r + ")"
	}
	return s + " " + i.Go
}
