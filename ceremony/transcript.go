package ceremony

import (
	"errors"
	"time"

	"github.com/keyrite/keyrite/bundle/paper"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/internal/fsutil"
)

// PrintTranscriptResult is what PrintTranscript made.
type PrintTranscriptResult struct {
	Out            string `json:"out"`
	TranscriptHead string `json:"transcript_head"`
	Ceremonies     int    `json:"ceremonies"`
	Witnesses      int    `json:"witnesses"`
}

// PrintTranscript verifies a signed bundle or key record as transcript
// verify does (a bundle still waiting for signatures is printed as such)
// and renders its record as a PDF, written to a new file.
func PrintTranscript(env session.Env, dir, out string, o verify.AuditOptions) (*PrintTranscriptResult, error) {
	if err := fsutil.RefuseExisting(out, "record"); err != nil {
		return nil, err
	}
	o.Options = env.VerifyOptions()
	a, err := verify.AuditDir(dir, env.Now(), o)
	var inc *verify.IncompleteError
	if err != nil && !errors.As(err, &inc) {
		return nil, err
	}
	created := time.Time{}
	for _, c := range a.Ceremonies {
		created = c.Started
		if !c.Ended.IsZero() {
			created = c.Ended
		}
	}
	pdf, err := paper.Render(a, created)
	if err != nil {
		return nil, err
	}
	if err := fsutil.WriteFile(out, pdf, 0o644, false); err != nil {
		return nil, err
	}
	return &PrintTranscriptResult{Out: out, TranscriptHead: a.TranscriptHead, Ceremonies: len(a.Ceremonies), Witnesses: len(a.Witnesses)}, nil
}
