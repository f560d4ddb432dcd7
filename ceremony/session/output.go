package session

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/trust"
)

// WriteSigned writes the signed bundle whole, with the transcript so far
// sealed by the keys SealBy named, verified as verify would verify it
// before it is written, and read back to prove the bytes written are
// those verified: nothing unverified leaves the room. A bundle that fails
// is not written. A bundle still waiting
// for other holders' signatures is a result, not a failure: missing names
// the roles whose threshold is not met yet.
func (s *Session) WriteSigned(out string, info bundle.SignedInfo, files bundle.Files, req *bundle.Request) (missing []string, err error) {
	info.Rehearsal = info.Rehearsal || s.software
	all, err := bundle.SignedFiles(info, files, req, s.Transcript())
	if err != nil {
		return nil, err
	}
	// Sealed by the keys that signed (SealBy) before anything is written.
	if err := s.Seal(context.TODO(), all); err != nil {
		return nil, err
	}
	// Verified in memory, as verify would verify it, before it is
	// written; then the bytes written are proven to be those verified.
	sb, err := bundle.SignedOf(out, all)
	if err != nil {
		return nil, fmt.Errorf("the bundle does not verify (nothing written): %w", err)
	}
	rep, err := verify.Signed(sb, s.Now(), s.VerifyOptions())
	var inc *verify.IncompleteError
	switch {
	case err == nil:
	case errors.As(err, &inc):
		missing = inc.Missing
	default:
		return nil, fmt.Errorf("the bundle does not verify (nothing written): %w", err)
	}
	if err := bundle.WriteExactly(out, bundle.KindSigned, all); err != nil {
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
