package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/trust"
)

// WriteSigned writes the signed bundle whole, with the transcript so far
// sealed by the keys SealBy named, verified as verify would verify it
// while it is written beside its place and read back to prove the bytes
// written are those verified; it is renamed into place only then, so
// nothing unverified leaves the room. A bundle that fails is removed
// unseen. A bundle still waiting for other holders' signatures is a
// result, not a failure: missing names the roles whose threshold is not
// met yet.
func (s *Session) WriteSigned(out string, info bundle.SignedInfo, files bundle.Files, req *bundle.Request) (missing []string, err error) {
	info.Rehearsal = info.Rehearsal || s.software
	defer lowerHeapPeak()()
	all, err := bundle.SignedFiles(info, files, req, s.Transcript())
	if err != nil {
		return nil, err
	}
	// Sealed by the keys that signed (SealBy) before anything is written.
	if err := s.Seal(context.TODO(), all); err != nil {
		return nil, err
	}
	// Verified in memory, as verify would verify it, while the same files
	// are written beside their place and read back to prove the bytes
	// written are those verified; put in place only once both are done.
	type stagedBundle struct {
		st  *bundle.Staged
		err error
	}
	staging := make(chan stagedBundle, 1)
	go func() {
		st, err := bundle.Stage(out, bundle.KindSigned, all)
		staging <- stagedBundle{st, err}
	}()
	rep, missing, err := s.verifyWritten(out, all)
	staged := <-staging
	switch {
	case err != nil:
		if staged.st != nil {
			staged.st.Abort()
		}
		return nil, err
	case staged.err != nil:
		return nil, staged.err
	}
	faultPoint("staged")
	if err := staged.st.Commit(); err != nil {
		return nil, err
	}
	// The keys the journal announced belong to the bundle now: a run
	// killed while it pins is not offered to destroy them. A journal that
	// cannot be deleted is harmless: the next run sees that its output
	// exists.
	s.Keep()
	complete := map[string]bool{}
	for _, r := range rep.Repos {
		complete[r.GUN] = rootComplete(r)
	}
	if err := s.pinWritten(out, files, info, complete); err != nil {
		return missing, &NotPinnedError{Bundle: out, Err: err}
	}
	return missing, nil
}

// lowerHeapPeak makes the garbage collector run at half the heap growth
// it otherwise waits for, until the function it returns is called (unless
// GOGC says otherwise). WriteSigned holds a run's heap peak: every file of
// the bundle decoded and verified while the same files are written and
// read back. Measured on init of 1,000 GUNs with a targets key each: a
// peak of 86-89 MiB instead of 96-104, in the same time.
func lowerHeapPeak() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(50)
	return func() { debug.SetGCPercent(old) }
}

// verifyWritten verifies a signed bundle's files in memory, as verify
// would: missing names the roles still waiting for other holders'
// signatures.
func (s *Session) verifyWritten(out string, all bundle.Files) (*verify.Report, []string, error) {
	sb, err := bundle.SignedOf(out, all)
	if err != nil {
		return nil, nil, fmt.Errorf("the bundle does not verify (nothing written): %w", err)
	}
	rep, err := verify.Signed(sb, s.Now(), s.VerifyOptions())
	var inc *verify.IncompleteError
	switch {
	case err == nil:
		return rep, nil, nil
	case errors.As(err, &inc):
		return rep, inc.Missing, nil
	}
	return nil, nil, fmt.Errorf("the bundle does not verify (nothing written): %w", err)
}

// rootComplete says whether a repository's root met its thresholds.
func rootComplete(r *trust.RepoReport) bool {
	for _, role := range r.Roles {
		if strings.HasPrefix(role.Role, "root") && !role.ThresholdMet {
			return false
		}
	}
	return true
}

// CheckGUNs refuses an empty list, an invalid name or a name given twice.
func CheckGUNs(guns []string) error {
	if len(guns) == 0 {
		return errors.New("no GUN given")
	}
	seen := map[string]bool{}
	for _, g := range guns {
		if err := trust.ValidateGUN(g); err != nil {
			return err
		}
		if seen[g] {
			return fmt.Errorf("%s is given twice", g)
		}
		seen[g] = true
	}
	return nil
}

// CheckNewOutput refuses a signed bundle's output that exists: keyrite
// never overwrites or merges into a bundle.
func CheckNewOutput(out string) error { return fsutil.RefuseExisting(out, "bundle") }
