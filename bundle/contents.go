package bundle

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/theupdateframework/notary/tuf/data"
)

// A bundle holds what its description (request.json, bundle.json) says
// and nothing else. A file the manifest lists but nothing reads would
// verify, be carried along and be uploaded or archived unchecked: the
// online machine can rebuild any manifest, so only the description, whose
// every entry is checked, decides what a bundle may hold.

// metadataRoles are the base roles whose current metadata a request
// bundle may carry (fetch takes these four, and every delegation role the
// snapshot lists: isMetadataRole).
var metadataRoles = map[string]bool{"root": true, "targets": true, "snapshot": true, "timestamp": true}

func isMetadataRole(role string) bool {
	return metadataRoles[role] || data.IsDelegation(data.RoleName(role))
}

// checkRequestFiles refuses files request.json does not account for: per
// GUN, its two server keys and the metadata of the roles it lists (root
// when the repository exists, no role twice).
func checkRequestFiles(name string, r *Request) error {
	bad := func(format string, a ...any) error { return &Error{Bundle: name, Reason: fmt.Sprintf(format, a...)} }
	want := map[string]bool{RequestInfoName: true}
	seen := map[string]bool{}
	for _, repo := range r.Info.Repos {
		if seen[repo.GUN] {
			return bad("%s lists %s twice", RequestInfoName, repo.GUN)
		}
		seen[repo.GUN] = true
		want[RepoFile(repo.GUN, "timestamp.key")] = true
		want[RepoFile(repo.GUN, "snapshot.key")] = true
		hasRoot := false
		for _, role := range repo.Metadata {
			p := RepoFile(repo.GUN, role+".json")
			switch {
			case !isMetadataRole(role):
				return bad("%s: %s lists metadata of role %q, which a request bundle does not carry", repo.GUN, RequestInfoName, role)
			case want[p]:
				return bad("%s: %s lists %s metadata twice", repo.GUN, RequestInfoName, role)
			}
			b, ok := r.Files[p]
			if !ok {
				return bad("%s: %s is listed in %s but missing", repo.GUN, p, RequestInfoName)
			}
			if err := checkMetadataShape(role, b); err != nil {
				return bad("%s: %s %v", repo.GUN, p, err)
			}
			want[p] = true
			hasRoot = hasRoot || role == "root"
		}
		if repo.Exists != hasRoot || (!repo.Exists && (repo.RootVersion != 0 || len(repo.Metadata) > 0)) || (repo.Exists && repo.RootVersion < 1) {
			return bad("%s: %s says exists %v, root version %d, metadata %v: not what fetch writes", repo.GUN, RequestInfoName, repo.Exists, repo.RootVersion, repo.Metadata)
		}
		// Every earlier root version, for the walk from a pin (optional:
		// a request from before fetch brought them has none).
		for v := 1; v < repo.RootVersion; v++ {
			p := RepoFile(repo.GUN, RootVersionFile(v))
			if b, ok := r.Files[p]; ok {
				if err := checkMetadataShape("root", b); err != nil {
					return bad("%s: %s %v", repo.GUN, p, err)
				}
				want[p] = true
			}
		}
	}
	return unaccounted(name, r.Files, want, RequestInfoName)
}

// checkSignedFiles refuses files bundle.json does not account for: per
// GUN, the metadata of the roles it uploads; besides, the request bundle
// (checked on its own) and attestations (checked by verify).
func checkSignedFiles(s *Signed) error {
	want := map[string]bool{SignedInfoName: true, TranscriptName: true}
	for _, r := range s.Info.Repos {
		for _, role := range r.Upload {
			want[RepoFile(r.GUN, role+".json")] = true
		}
	}
	rest := Files{}
	for p, b := range s.Files {
		// The seal and witness files are checked by verify, against the
		// transcript and the keys that sealed it.
		if !strings.HasPrefix(p, requestPrefix) && !strings.HasPrefix(p, "attestations/") && !IsSealFile(p) {
			rest[p] = b
		}
	}
	return unaccounted(s.Dir, rest, want, SignedInfoName)
}

func unaccounted(name string, files Files, want map[string]bool, desc string) error {
	var extra []string
	for p := range files {
		if !want[p] {
			extra = append(extra, p)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	if len(extra) > maxUnlistedNamed {
		extra = append(extra[:maxUnlistedNamed], fmt.Sprintf("and %d more", len(extra)-maxUnlistedNamed))
	}
	return &Error{Bundle: name, Reason: fmt.Sprintf("%s: not a file %s accounts for", strings.Join(extra, ", "), desc)}
}

// checkMetadataShape checks what a request bundle's current metadata must
// be before anything reads it: one JSON object with no key twice (parsers
// disagree on which value counts), signed metadata of its own role with a
// version and signatures. Its signatures are checked where it is used.
func checkMetadataShape(role string, b []byte) error {
	if err := checkNoDuplicateKeys(b); err != nil {
		return fmt.Errorf("is not valid: %v", err)
	}
	var m struct {
		Signed struct {
			Type    string `json:"_type"`
			Version int    `json:"version"`
		} `json:"signed"`
		Signatures []json.RawMessage `json:"signatures"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("is not valid: %v", err)
	}
	want := strings.ToUpper(role[:1]) + role[1:]
	if data.IsDelegation(data.RoleName(role)) {
		want = "Targets" // a delegation role is targets metadata
	}
	if m.Signed.Type != want {
		return fmt.Errorf("is %q metadata, not %s", m.Signed.Type, want)
	}
	if m.Signed.Version < 1 || len(m.Signatures) == 0 {
		return fmt.Errorf("has version %d and %d signatures: not metadata a server serves", m.Signed.Version, len(m.Signatures))
	}
	return nil
}
