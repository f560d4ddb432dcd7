package bundle

import (
	"fmt"
	"time"

	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/theupdateframework/notary/tuf/data"
)

// RequestInfoName is the request bundle's description file.
const RequestInfoName = "request.json"

const requestFormat = "keyrite-request/v1"

// RequestInfo describes a request bundle: what the online machine saw.
type RequestInfo struct {
	Format    string        `json:"format"`
	Server    string        `json:"server"`
	FetchedAt time.Time     `json:"fetched_at"`
	Repos     []RequestRepo `json:"repos"`
	Keyrite   *Build        `json:"keyrite,omitempty"` // the keyrite that fetched it
}

// RequestRepo is one GUN of a request bundle.
type RequestRepo struct {
	GUN         string   `json:"gun"`
	Exists      bool     `json:"exists"`       // the server already has a root
	RootVersion int      `json:"root_version"` // 0 when new
	Metadata    []string `json:"metadata"`     // roles whose current metadata is included
}

// Request is a verified request bundle.
type Request struct {
	Dir      string
	Info     RequestInfo
	Files    Files  // without the manifest
	Manifest []byte // raw, to be carried into the signed bundle

	// serverKeys are the server keys parseRequest parsed and checked, by
	// their bytes, so verify's per-GUN work does not parse them again.
	// Written only while parsing; keyed by content, so a Files entry
	// changed later is parsed (and checked) afresh.
	serverKeys map[string]data.PublicKey
}

// ReadRequest reads and verifies a request bundle.
func ReadRequest(dir string) (*Request, error) {
	files, man, err := read(dir, KindRequest)
	if err != nil {
		return nil, err
	}
	return parseRequest(dir, files, man)
}

func parseRequest(name string, files Files, man []byte) (*Request, error) {
	r := &Request{Dir: name, Files: files, Manifest: man}
	if err := decodeStrict(files[RequestInfoName], &r.Info); err != nil {
		return nil, &Error{Bundle: name, Reason: fmt.Sprintf("%s is not valid: %v", RequestInfoName, err)}
	}
	if r.Info.Format != requestFormat {
		return nil, &Error{Bundle: name, Reason: fmt.Sprintf("unknown request format %q", r.Info.Format)}
	}
	if err := checkRequestFiles(name, r); err != nil {
		return nil, err
	}
	// The keys are parsed on every core (the first error in the bundle's
	// order is reported), then kept for verify's per-GUN work.
	roles := []data.RoleName{data.CanonicalTimestampRole, data.CanonicalSnapshotRole}
	keys := make([]data.PublicKey, 2*len(r.Info.Repos))
	if err := fsutil.Each(len(keys), func(i int) (err error) {
		if keys[i], err = r.ServerKey(r.Info.Repos[i/2].GUN, roles[i%2]); err == nil {
			keys[i].ID() // computed here: the key is read-only from now on
		}
		return err
	}); err != nil {
		return nil, err
	}
	// notary-server makes a key per GUN and role: one key served twice
	// was copied by whoever made the bundle.
	served := map[string]string{}
	r.serverKeys = map[string]data.PublicKey{}
	for i, k := range keys {
		gun, role := r.Info.Repos[i/2].GUN, roles[i%2]
		if first, ok := served[k.ID()]; ok {
			return nil, &ServerKeyError{Bundle: name, GUN: gun, Role: role, Reason: "is the same key as " + first + ": notary-server makes a key per GUN and role"}
		}
		served[k.ID()] = fmt.Sprintf("%s's %s key", gun, role)
		r.serverKeys[string(r.Files.Repo(gun, role.String()+".key"))] = k
	}
	return r, nil
}

// Repo returns the request's entry for a GUN.
func (r *Request) Repo(gun string) (RequestRepo, bool) {
	for _, repo := range r.Info.Repos {
		if repo.GUN == gun {
			return repo, true
		}
	}
	return RequestRepo{}, false
}

// ServerKey returns the server's public key for the timestamp or snapshot
// role of a GUN, as fetched.
func (r *Request) ServerKey(gun string, role data.RoleName) (data.PublicKey, error) {
	b := r.Files.Repo(gun, role.String()+".key")
	if b == nil {
		return nil, &Error{Bundle: r.Dir, Reason: fmt.Sprintf("no %s key for %s", role, gun)}
	}
	if k, ok := r.serverKeys[string(b)]; ok {
		return k, nil
	}
	k, err := ParseServerKey(b)
	if err != nil {
		return nil, &ServerKeyError{Bundle: r.Dir, GUN: gun, Role: role, Reason: err.Error()}
	}
	return k, nil
}

// Metadata returns a GUN's current metadata for a role, nil when absent.
func (r *Request) Metadata(gun string, role data.RoleName) []byte {
	return r.Files.Repo(gun, role.String()+".json")
}

// RootVersionFile is the name of root version v beside a GUN's metadata,
// as notary-server serves it.
func RootVersionFile(v int) string { return fmt.Sprintf("%d.root.json", v) }

// RootOfVersion returns root version v of a GUN as fetched (the current
// root for its own version), nil when the request does not carry it.
func (r *Request) RootOfVersion(gun string, v int) []byte {
	if b := r.Files.Repo(gun, RootVersionFile(v)); b != nil {
		return b
	}
	if repo, ok := r.Repo(gun); ok && repo.Exists && repo.RootVersion == v {
		return r.Metadata(gun, data.CanonicalRootRole)
	}
	return nil
}
