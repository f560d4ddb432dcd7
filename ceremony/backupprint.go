package ceremony

import (
	"fmt"
	"time"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/backup/paper"
	"github.com/keyrite/keyrite/internal/fsutil"
)

// PrintResult is what PrintShare made.
type PrintResult struct {
	Out       string `json:"out"`
	KeyID     string `json:"key_id"`
	Share     int    `json:"share"`
	Custodian string `json:"custodian"`
	QRCodes   int    `json:"qr_codes"`
}

// PrintShare renders a share file as a printable PDF sheet, written 0600
// to a new file.
func PrintShare(share, out string) (*PrintResult, error) {
	if err := fsutil.RefuseExisting(out, "sheet"); err != nil {
		return nil, err
	}
	text, err := backup.ReadShareFile(share)
	if err != nil {
		return nil, err
	}
	f, err := backup.ParseShareFile(share, text)
	if err != nil {
		return nil, err
	}
	if f.Header == nil {
		return nil, &paper.NoHeaderError{File: share}
	}
	created, err := time.Parse(time.DateOnly, f.Header.Created)
	if err != nil {
		return nil, fmt.Errorf("%s: bad creation date %q", share, f.Header.Created)
	}
	pdf, err := paper.Render(f, text, created)
	if err != nil {
		return nil, err
	}
	if err := fsutil.WriteFile(out, pdf, 0o600, false); err != nil {
		return nil, err
	}
	return &PrintResult{Out: out, KeyID: f.Header.KeyID, Share: f.Header.Share, Custodian: f.Header.Custodian,
		QRCodes: len(backup.QRParts(text, f.Header.KeyID, paper.QRChunk))}, nil
}
