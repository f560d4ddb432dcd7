// Package verify is the one place a signed bundle is checked: its manifest
// (read through bundle), the transcript chain, every repository's metadata
// against the request bundle it was made from, bundle.json's claims, and
// the device attestations it carries. Every command that reads a signed
// bundle (verify, sign, publish, and each ceremony re-reading what it just
// wrote) calls Dir or Signed.
package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/inorder"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// Report is the result of verifying a signed bundle offline.
type Report struct {
	Bundle          string              `json:"bundle"`
	Server          string              `json:"server"`
	Rehearsal       bool                `json:"rehearsal"`
	Repos           []*trust.RepoReport `json:"repos"`
	TranscriptLines int                 `json:"transcript_lines"`
	TranscriptHead  string              `json:"transcript_head"`
	Attestations    []AttestationReport `json:"attestations,omitempty"`
	Seal            *SealReport         `json:"seal,omitempty"`
	Witnesses       []WitnessReport     `json:"witnesses,omitempty"`
	OK              bool                `json:"ok"`
}

// Options control verification.
type Options struct {
	// Registry verifies the bundle's attestations with the verifiers
	// registered on it; a bundle holding an attestation of a format it
	// has no verifier for (or any attestation, without a registry) is
	// refused.
	Registry *hsm.Registry
}

// Dir reads a signed bundle (its manifests are checked as it is read) and
// verifies it. A bundle that verifies but still waits for threshold
// signatures returns its report with an *IncompleteError.
func Dir(dir string, now time.Time, o Options) (*Report, error) {
	s, err := bundle.ReadSigned(dir)
	if err != nil {
		return nil, err
	}
	return Signed(s, now, o)
}

// Signed verifies a signed bundle already read: the transcript chain, and
// for every GUN the metadata (canonical JSON, signatures and thresholds,
// root certificates for the GUN and valid now, versions), that the server
// keys in root are those of the request bundle, that bundle.json and the
// transcript describe these very files, and the attestations. A bundle
// still waiting for threshold signatures has its attestations checked
// too: they must hold before anyone adds a signature.
func Signed(s *bundle.Signed, now time.Time, o Options) (*Report, error) {
	rep := &Report{Bundle: s.Dir, Server: s.Info.Server, Rehearsal: s.Info.Rehearsal}
	d := trust.NewDecoded() // every check below reads the same files
	// The repositories are checked on every core while this goroutine
	// checks the transcript, the seal's lines and the bundle's lists, one
	// after the other; errors are reported in the order below all the same.
	type reposResult struct {
		rr      *Report
		missing []string
		err     error
	}
	done := make(chan reposResult, 1)
	go func() {
		rr := &Report{}
		missing, err := repos(d, s, rr, now)
		done <- reposResult{rr, missing, err}
	}()
	entries, seal, err := serialChecks(s, rep)
	// After the metadata, so a bad signature is reported as such rather
	// than as a mismatch with the transcript.
	var filesErr error
	if err == nil {
		filesErr = checkTranscriptFiles(s, entries)
	}
	r := <-done
	if err != nil {
		return rep, err
	}
	rep.Repos = r.rr.Repos
	if r.err != nil {
		return rep, r.err
	}
	missing := r.missing
	if filesErr != nil {
		return rep, filesErr
	}
	if err := checkAttestations(s, entries, rep, o.Registry); err != nil {
		return rep, err
	}
	// The seal last: the checks above name what is wrong with a file; the
	// seal catches what they cannot (an edited transcript, bundle.json).
	if err := checkSealed(d, s, entries, rep, seal); err != nil {
		return rep, err
	}
	if len(missing) > 0 {
		return rep, &IncompleteError{Bundle: s.Dir, Missing: missing}
	}
	rep.OK = true
	return rep, nil
}

// serialChecks are the checks of the bundle as a whole, in order: the
// transcript chain; the transcript, line by line, against the seal's
// signed record of it (an edited transcript is named by its first line
// that differs); every GUN listed once; the request bundle recorded.
func serialChecks(s *bundle.Signed, rep *Report) ([]bundle.TranscriptEntry, *SealReport, error) {
	entries, err := transcript(s, rep)
	if err != nil {
		return nil, nil, err
	}
	seal, err := checkSealedLines(s.Dir, s.Files)
	if err != nil {
		return nil, nil, err
	}
	if err := checkListedOnce(s); err != nil {
		return nil, nil, err
	}
	if err := checkRequestRecorded(s, entries); err != nil {
		return nil, nil, err
	}
	return entries, seal, nil
}

// checkSealed checks the rehearsal flag against the transcript, the rest
// of the seal (the files, the keys), that the keys that sealed are those
// that signed, and the witnesses.
func checkSealed(d *trust.Decoded, s *bundle.Signed, entries []bundle.TranscriptEntry, rep *Report, seal *SealReport) error {
	if err := checkRehearsal(s.Dir, bundle.SignedInfoName, s.Info.Rehearsal, entries); err != nil {
		return err
	}
	if err := checkSealRest(s.Dir, s.Files, entries, seal); err != nil {
		return err
	}
	if err := checkSealedBySigners(d, s, seal); err != nil {
		return err
	}
	ws, err := checkWitnesses(s.Dir, s.Files, entries)
	if err != nil {
		return err
	}
	rep.Seal, rep.Witnesses = seal, ws
	return nil
}

// transcript checks the chain once; every later check reads its entries.
func transcript(s *bundle.Signed, rep *Report) ([]bundle.TranscriptEntry, error) {
	b := s.Files[bundle.TranscriptName]
	entries, err := bundle.VerifyTranscript(b)
	if err != nil {
		return nil, &bundle.Error{Bundle: s.Dir, Reason: err.Error()}
	}
	if len(entries) == 0 {
		return nil, &bundle.Error{Bundle: s.Dir, Reason: "the transcript is empty"}
	}
	rep.TranscriptLines = len(entries)
	rep.TranscriptHead = bundle.TranscriptHead(b)
	return entries, nil
}

// repos verifies every repository's metadata and returns the roles whose
// threshold is not met yet. Repositories are independent: they are checked
// on every core, and reported in the bundle's order, the first failure (in
// that order) as the error.
func repos(d *trust.Decoded, s *bundle.Signed, rep *Report, now time.Time) (missing []string, err error) {
	if len(s.Info.Repos) == 0 {
		return nil, &bundle.Error{Bundle: s.Dir, Reason: "signs no repository"}
	}
	type result struct {
		rr      *trust.RepoReport
		missing []string
		err     error
	}
	err = inorder.Run(context.Background(), len(s.Info.Repos), runtime.GOMAXPROCS(0), func(_ context.Context, i int) (result, error) {
		var r result
		r.rr, r.missing, r.err = repo(d, s, s.Info.Repos[i], now)
		return r, nil
	}, func(_ int, r result) error {
		if r.rr != nil {
			rep.Repos = append(rep.Repos, r.rr)
		}
		missing = append(missing, r.missing...)
		return r.err
	})
	if err != nil {
		return nil, err
	}
	return missing, nil
}

// repo verifies one repository's metadata.
func repo(d *trust.Decoded, s *bundle.Signed, r bundle.SignedRepo, now time.Time) (rr *trust.RepoReport, missing []string, err error) {
	dir := s.Dir
	ts, err := s.Request.ServerKey(r.GUN, data.CanonicalTimestampRole)
	if err != nil {
		return nil, nil, err
	}
	ss, err := s.Request.ServerKey(r.GUN, data.CanonicalSnapshotRole)
	if err != nil {
		return nil, nil, err
	}
	in := trust.VerifyInput{GUN: r.GUN, Root: s.RepoMetadata(r.GUN, "root"), Targets: s.RepoMetadata(r.GUN, "targets"),
		Timestamp: ts, Snapshot: ss, Now: now, Decoded: d}
	snapshot := s.RepoMetadata(r.GUN, "snapshot")
	if snapshot != nil {
		in.Snapshot = nil // client-managed: the bundle's snapshot is checked below
	}
	// Roles this bundle does not change are checked as the server has
	// them, against the new root; a changed root must follow the
	// current one.
	if in.Root == nil {
		in.Root = s.Request.Metadata(r.GUN, data.CanonicalRootRole)
	} else {
		in.PrevRoot = s.Request.Metadata(r.GUN, data.CanonicalRootRole)
	}
	if in.Targets == nil {
		in.Targets = s.Request.Metadata(r.GUN, data.CanonicalTargetsRole)
	}
	if in.Root == nil {
		return nil, nil, &bundle.Error{Bundle: dir, Reason: fmt.Sprintf("%s: no root.json in the bundle or its request bundle", r.GUN)}
	}
	rr, err = trust.VerifyRepository(in)
	if err != nil {
		return rr, nil, err
	}
	if err := checkClaims(r, rr, s.Request, in.PrevRoot != nil); err != nil {
		return rr, nil, err
	}
	if err := checkForeignSignatures(d, s, r, in.Root, in.PrevRoot); err != nil {
		return rr, nil, err
	}
	dr, err := checkDelegations(s, r, in.Targets)
	if err != nil {
		return rr, nil, err
	}
	rr.Roles = append(rr.Roles, dr...)
	if snapshot != nil {
		files := delegationFiles(s, r)
		files[data.CanonicalRootRole], files[data.CanonicalTargetsRole] = in.Root, in.Targets
		sr, err := trust.VerifySnapshot(r.GUN, snapshot, in.Root, bundle.MetaVersion(s.Request.Metadata(r.GUN, data.CanonicalSnapshotRole)), files)
		if err != nil {
			return rr, nil, err
		}
		rr.Roles = append(rr.Roles, *sr)
	}
	for _, role := range rr.Roles {
		if !role.ThresholdMet {
			missing = append(missing, fmt.Sprintf("%s %s: %d of %d signatures", r.GUN, role.Role, len(role.SignedBy), role.Threshold))
		}
	}
	return rr, missing, nil
}

// checkClaims compares what bundle.json says (and publish relies on) with
// what the verified metadata holds.
func checkClaims(r bundle.SignedRepo, rr *trust.RepoReport, req *bundle.Request, rootChanged bool) error {
	fail := func(format string, a ...any) error {
		return &trust.VerifyError{GUN: r.GUN, Reason: fmt.Sprintf(format, a...)}
	}
	root := rr.Roles[0]
	want := 1
	if q, _ := req.Repo(r.GUN); q.Exists {
		want = q.RootVersion
		if rootChanged {
			want++
		}
	}
	if root.Version != want {
		return fail("root version %d, but the request bundle calls for version %d", root.Version, want)
	}
	if r.RootVersion != root.Version {
		return fail("bundle.json says root version %d, root.json has %d", r.RootVersion, root.Version)
	}
	ids := slices.Clone(r.RootKeyIDs)
	sort.Strings(ids)
	if !slices.Equal(ids, root.KeyIDs) {
		return fail("bundle.json lists root keys %v, root.json has %v", ids, root.KeyIDs)
	}
	if r.TargetsKeyID != "" && !slices.Equal(rr.TargetsKeyIDs, []string{r.TargetsKeyID}) {
		return fail("bundle.json names targets key %s, root.json has %v", r.TargetsKeyID, rr.TargetsKeyIDs)
	}
	if !r.RootExpires.Equal(root.Expires) {
		return fail("altered: bundle.json says root expires %s, root.json says %s", r.RootExpires.Format("2006-01-02T15:04:05Z"), root.Expires.Format("2006-01-02T15:04:05Z"))
	}
	return nil
}

// repoEvent is the part of a transcript's repo.* line that binds it to
// the files: the hashes of what was signed.
type repoEvent struct {
	GUN            string   `json:"gun"`
	RootKeyIDs     []string `json:"root_key_ids"`
	RootSHA256     string   `json:"root_sha256"`
	TargetsSHA256  string   `json:"targets_sha256"`
	SnapshotSHA256 string   `json:"snapshot_sha256"`
	// DelegationsSHA256 are the delegation files signed, by role.
	DelegationsSHA256 map[string]string `json:"delegations_sha256"`
}

// checkTranscriptFiles makes the transcript a record of these very files:
// the latest repo.* line for every GUN must name the hashes of its
// metadata. A bundle whose files were swapped and re-manifested fails here
// even if the swapped files verify on their own.
func checkTranscriptFiles(s *bundle.Signed, entries []bundle.TranscriptEntry) error {
	latest := map[string]repoEvent{}
	for _, e := range entries {
		if len(e.Event) < 5 || e.Event[:5] != "repo." {
			continue
		}
		var ev repoEvent
		if err := json.Unmarshal(e.Data, &ev); err != nil || ev.GUN == "" {
			return &bundle.Error{Bundle: s.Dir, Reason: fmt.Sprintf("transcript line %d: unreadable %s event", e.Seq, e.Event)}
		}
		latest[ev.GUN] = ev
	}
	for _, r := range s.Info.Repos {
		ev, ok := latest[r.GUN]
		if !ok {
			return &bundle.Error{Bundle: s.Dir, Reason: fmt.Sprintf("the transcript records no signing of %s", r.GUN)}
		}
		for _, f := range []struct{ role, want string }{{"root", ev.RootSHA256}, {"targets", ev.TargetsSHA256}, {"snapshot", ev.SnapshotSHA256}} {
			if b := s.RepoMetadata(r.GUN, f.role); b != nil && bundle.SHA256Hex(b) != f.want {
				return &bundle.Error{Bundle: s.Dir, Reason: fmt.Sprintf("%s: %s.json is not the file the transcript records as signed", r.GUN, f.role)}
			}
		}
		for role, b := range delegationFiles(s, r) {
			if bundle.SHA256Hex(b) != ev.DelegationsSHA256[role.String()] {
				return &bundle.Error{Bundle: s.Dir, Reason: fmt.Sprintf("%s: %s.json is not the file the transcript records as signed", r.GUN, role)}
			}
		}
		if !slices.Equal(ev.RootKeyIDs, r.RootKeyIDs) {
			return &bundle.Error{Bundle: s.Dir, Reason: fmt.Sprintf("%s: bundle.json's root keys differ from the transcript's", r.GUN)}
		}
	}
	return nil
}

// IncompleteError is a bundle that verifies but still lacks signatures: a
// threshold role whose other holders have yet to sign it.
type IncompleteError struct {
	Bundle  string
	Missing []string
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("bundle %s is not fully signed yet: %s", e.Bundle, strings.Join(e.Missing, "; "))
}
