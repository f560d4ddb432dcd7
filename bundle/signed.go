package bundle

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// Names of the signed bundle's own files.
const (
	SignedInfoName = "bundle.json"
	TranscriptName = "transcript.jsonl"
	requestPrefix  = "request/"
)

const signedFormat = "keyrite-signed/v1"

// SignedInfo describes a signed bundle: what to upload, for which server.
type SignedInfo struct {
	Format    string       `json:"format"`
	Server    string       `json:"server"`
	Created   time.Time    `json:"created"`
	Command   string       `json:"command"`
	Rehearsal bool         `json:"rehearsal"` // signed with a software token
	Repos     []SignedRepo `json:"repos"`
	Keyrite   *Build       `json:"keyrite,omitempty"` // the keyrite that wrote it
}

// SignedRepo is one GUN of a signed bundle.
type SignedRepo struct {
	GUN              string    `json:"gun"`
	New              bool      `json:"new"`
	Upload           []string  `json:"upload"` // roles, in upload order
	RootVersion      int       `json:"root_version"`
	RootExpires      time.Time `json:"root_expires"`
	RootKeyIDs       []string  `json:"root_key_ids"`       // as in root.json and docker's "Root Key"
	RootCanonicalIDs []string  `json:"root_canonical_ids"` // as notary key list shows them
	TargetsKeyID     string    `json:"targets_key_id"`
}

// Delegations are the delegation roles a repository uploads (incident
// paths and revoke re-sign them), parents first.
func (r SignedRepo) Delegations() []data.RoleName {
	var list utils.RoleList
	for _, role := range r.Upload {
		if data.IsDelegation(data.RoleName(role)) {
			list = append(list, role)
		}
	}
	sort.Sort(list)
	out := make([]data.RoleName, len(list))
	for i, role := range list {
		out[i] = data.RoleName(role)
	}
	return out
}

// Signed is a verified signed bundle.
type Signed struct {
	Dir     string
	Info    SignedInfo
	Files   Files
	Request *Request
}

// WriteSigned writes a signed bundle at dest, carrying its request bundle
// so that verify can compare what was signed with what was asked.
func WriteSigned(dest string, info SignedInfo, repoFiles Files, req *Request, transcript []byte) error {
	files, err := SignedFiles(info, repoFiles, req, transcript)
	if err != nil {
		return err
	}
	return Write(dest, KindSigned, files)
}

// SignedFiles are the files of a signed bundle, but its manifest (and the
// seal, which covers them): bundle.json, the transcript, the signed files
// and the request bundle.
func SignedFiles(info SignedInfo, repoFiles Files, req *Request, transcript []byte) (Files, error) {
	info.Format = signedFormat
	info.Keyrite = currentBuild()
	ib, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, err
	}
	files := Files{SignedInfoName: append(ib, '\n'), TranscriptName: transcript}
	for p, b := range repoFiles {
		files[p] = b
	}
	files[requestPrefix+ManifestName] = req.Manifest
	for p, b := range req.Files {
		files[requestPrefix+p] = b
	}
	return files, nil
}

// ReadSigned reads a signed bundle and verifies its manifest and the
// manifest of the request bundle inside it.
func ReadSigned(dir string) (*Signed, error) {
	files, err := Read(dir, KindSigned)
	if err != nil {
		return nil, err
	}
	return SignedOf(dir, files)
}

// SignedOf is the signed bundle files would be at dir (without its
// manifest, which Write adds): checked as ReadSigned checks what it read,
// so a ceremony verifies the bundle in memory before it writes it.
func SignedOf(dir string, files Files) (*Signed, error) {
	reqFiles := files.Sub(requestPrefix)
	man := reqFiles[ManifestName]
	delete(reqFiles, ManifestName)
	name := dir + "/" + requestPrefix
	if err := Check(name, KindRequest, man, reqFiles); err != nil {
		return nil, err
	}
	req, err := parseRequest(name, reqFiles, man)
	if err != nil {
		return nil, err
	}
	s := &Signed{Dir: dir, Files: files, Request: req}
	if err := decodeStrict(files[SignedInfoName], &s.Info); err != nil || s.Info.Format != signedFormat {
		return nil, &Error{Bundle: dir, Reason: fmt.Sprintf("%s is missing or not a keyrite signed bundle description", SignedInfoName)}
	}
	if s.Info.Server != req.Info.Server {
		return nil, &Error{Bundle: dir, Reason: fmt.Sprintf("signed for server %s but its request bundle came from %s", s.Info.Server, req.Info.Server)}
	}
	for _, r := range s.Info.Repos {
		if _, ok := req.Repo(r.GUN); !ok {
			return nil, &Error{Bundle: dir, Reason: fmt.Sprintf("%s was not in the request bundle", r.GUN)}
		}
		for _, role := range r.Upload {
			if files.Repo(r.GUN, role+".json") == nil {
				return nil, &Error{Bundle: dir, Reason: fmt.Sprintf("%s: %s.json is missing", r.GUN, role)}
			}
		}
	}
	if err := checkSignedFiles(s); err != nil {
		return nil, err
	}
	return s, nil
}

// RepoMetadata returns the signed metadata for a GUN's role, nil if absent.
func (s *Signed) RepoMetadata(gun, role string) []byte {
	return s.Files.Repo(gun, role+".json")
}
