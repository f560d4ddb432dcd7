// Package paper renders a verified ceremony record (verify.Audit) as a
// PDF for the binder: what was done, step by step with times and outcomes,
// key IDs and hashes in hex and in PGP words to read aloud, the seal, the
// witnesses, and lines for the witnesses and the operator to sign.
package paper

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
)

const (
	margin = 15.0
	pageH  = 297.0
)

// Render makes the record of a verified audit. created dates the PDF
// itself: the same record always gives the same document.
func Render(a *verify.Audit, created time.Time) ([]byte, error) {
	d := &doc{pdf: fpdf.New("P", "mm", "A4", ""), a: a}
	d.tr = d.pdf.UnicodeTranslatorFromDescriptor("")
	p := d.pdf
	p.SetCreationDate(created)
	p.SetModificationDate(created)
	p.SetTitle("keyrite ceremony record "+a.TranscriptHead[:16], false)
	p.SetProducer("keyrite", false)
	p.SetCatalogSort(true)
	p.SetMargins(margin, margin, margin)
	p.SetAutoPageBreak(true, margin)
	p.SetFooterFunc(func() {
		p.SetY(-10)
		p.SetFont("Helvetica", "", 7)
		p.CellFormat(0, 4, fmt.Sprintf("keyrite ceremony record - transcript head %s - page %d", a.TranscriptHead[:16], p.PageNo()), "", 0, "C", false, 0, "")
	})
	p.AddPage()
	if err := d.summary(); err != nil {
		return nil, err
	}
	for i, c := range a.Ceremonies {
		d.ceremony(i+1, c)
	}
	if err := d.keys(); err != nil {
		return nil, err
	}
	if err := d.seal(); err != nil {
		return nil, err
	}
	d.files()
	if err := d.signatures(); err != nil {
		return nil, err
	}
	if err := p.Error(); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := p.Output(&out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

type doc struct {
	pdf *fpdf.Fpdf
	a   *verify.Audit
	tr  func(string) string
}

func (d *doc) heading(s string) {
	d.need(20)
	d.pdf.Ln(2)
	d.pdf.SetFont("Helvetica", "B", 12)
	d.pdf.CellFormat(0, 7, d.tr(s), "B", 1, "L", false, 0, "")
	d.pdf.Ln(1)
}

func (d *doc) field(name, value string) {
	d.pdf.SetFont("Helvetica", "B", 9)
	d.pdf.CellFormat(38, 5, d.tr(name), "", 0, "L", false, 0, "")
	d.pdf.SetFont("Helvetica", "", 9)
	d.pdf.MultiCell(0, 5, d.tr(value), "", "L", false)
}

func (d *doc) mono(name, value string) {
	d.pdf.SetFont("Helvetica", "B", 9)
	d.pdf.CellFormat(38, 5, d.tr(name), "", 0, "L", false, 0, "")
	d.pdf.SetFont("Courier", "", 8.5)
	d.pdf.MultiCell(0, 5, value, "", "L", false)
}

// words writes a hex value's PGP words under it, 8 per line.
func (d *doc) words(hexID string) error {
	lines, err := backup.WordLines(hexID, 8)
	if err != nil {
		return err
	}
	d.pdf.SetFont("Helvetica", "I", 8.5)
	for _, l := range lines {
		d.pdf.CellFormat(38, 4.2, "", "", 0, "L", false, 0, "")
		d.pdf.CellFormat(0, 4.2, l, "", 1, "L", false, 0, "")
	}
	return nil
}

// need starts a new page unless h millimetres are left.
func (d *doc) need(h float64) {
	if d.pdf.GetY()+h > pageH-margin {
		d.pdf.AddPage()
	}
}

func (d *doc) summary() error {
	p, a := d.pdf, d.a
	p.SetFont("Helvetica", "B", 16)
	p.CellFormat(0, 9, "keyrite ceremony record", "", 1, "L", false, 0, "")
	if a.Rehearsal {
		p.SetFillColor(200, 0, 0)
		p.SetTextColor(255, 255, 255)
		p.SetFont("Helvetica", "B", 11)
		p.CellFormat(0, 8, "REHEARSAL: a software token took part. Not a real ceremony; nothing here may be published.", "", 1, "C", true, 0, "")
		p.SetTextColor(0, 0, 0)
	}
	p.SetFont("Helvetica", "", 9)
	p.MultiCell(0, 4.5, d.tr("This record was printed by keyrite transcript print after verifying, offline: the transcript's hash chain, "+
		"the seal made by the keys that signed (each signature over the transcript head and the SHA-256 of every file), "+
		"the witnesses' SSH signatures and what binds every file. An auditor checks the same with keyrite transcript verify, "+
		"and each witness's signature with ssh-keygen -Y verify -n keyrite-transcript against transcript.head."), "", "L", false)
	p.Ln(2)
	kind := "signed bundle"
	if a.Kind == bundle.KindKeyRecord {
		kind = "key record (an on-device key generation)"
	}
	d.field("Record", filepath.Base(filepath.Clean(a.Bundle))+" ("+kind+")")
	if a.Server != "" {
		d.field("Notary server", a.Server)
	}
	d.field("Transcript", fmt.Sprintf("%d lines, %d ceremonies", a.Lines, len(a.Ceremonies)))
	d.mono("Transcript head", a.TranscriptHead)
	if err := d.words(a.TranscriptHead); err != nil {
		return err
	}
	checked := []string{"hash chain", fmt.Sprintf("seal (%d key(s))", len(a.Seal.Keys)), fmt.Sprintf("%d witness signature(s)", len(a.Witnesses))}
	if a.AllowedSigners {
		checked = append(checked, "witnesses against the auditor's allowed signers")
	}
	if a.Plan != nil {
		checked = append(checked, "the plan (SHA-256 "+a.Plan.SHA256[:16]+")")
	}
	d.field("Verified", strings.Join(checked, ", "))
	if len(a.Missing) > 0 {
		d.field("Not fully signed", strings.Join(a.Missing, "; "))
	}
	return nil
}

func (d *doc) ceremony(n int, c verify.Ceremony) {
	p := d.pdf
	d.heading(fmt.Sprintf("Ceremony %d: keyrite %s (transcript lines %d to %d)", n, c.Command, c.Line, max(c.EndLine, c.Line)))
	d.field("Command line", "keyrite "+strings.Join(c.Args, " "))
	d.field("Started", c.Started.UTC().Format(time.RFC3339))
	if !c.Ended.IsZero() {
		d.field("Ended", fmt.Sprintf("%s (%s by the monotonic clock)", c.Ended.UTC().Format(time.RFC3339), time.Duration(c.DurationUS)*time.Microsecond))
	}
	d.field("Outcome", c.Outcome)
	if c.Keyrite != nil {
		v := c.Keyrite.Version
		if c.Keyrite.Revision != "" {
			v += " revision " + c.Keyrite.Revision
			if c.Keyrite.Dirty {
				v += " (modified tree)"
			}
		}
		d.field("keyrite", v+", "+c.Keyrite.Go)
	}
	if h := c.Host; h != nil {
		d.field("Machine", fmt.Sprintf("%s, %s, kernel %s", h.Hostname, h.OS, h.Kernel))
		up := h.NetworkUp()
		if len(up) == 0 {
			up = []string{"none (no interface but loopback up with a carrier)"}
		}
		d.field("Network up", strings.Join(up, "; "))
	}
	for _, dev := range c.Devices {
		s := fmt.Sprintf("%s %q", dev.Kind, dev.Label)
		if dev.Serial != "" {
			s += " serial " + dev.Serial
		}
		if dev.Model != "" {
			s += " " + dev.Model
		}
		if dev.Software {
			s += " (SOFTWARE TOKEN)"
		}
		d.field("Device", s)
	}
	if c.PlanSHA256 != "" {
		d.mono("Plan SHA-256", c.PlanSHA256)
	}
	if c.Rehearsal {
		d.field("Rehearsal", "yes: a software token took part")
	}
	p.Ln(1)
	// The steps, one per transcript line.
	widths := []float64{10, 34, 16, 30, 90}
	header := []string{"Line", "Time (UTC)", "+seconds", "Event", "What"}
	d.need(12)
	p.SetFont("Helvetica", "B", 8)
	for i, h := range header {
		p.CellFormat(widths[i], 5, h, "B", 0, "L", false, 0, "")
	}
	p.Ln(-1)
	p.SetFont("Helvetica", "", 7.5)
	for _, s := range c.Steps {
		lines := p.SplitText(d.tr(s.Summary), widths[4])
		if len(lines) == 0 {
			lines = []string{""}
		}
		d.need(4 * float64(len(lines)))
		y := p.GetY()
		p.CellFormat(widths[0], 4, fmt.Sprint(s.Line), "", 0, "L", false, 0, "")
		p.CellFormat(widths[1], 4, s.Time.UTC().Format("2006-01-02 15:04:05"), "", 0, "L", false, 0, "")
		p.CellFormat(widths[2], 4, fmt.Sprintf("%.3f", float64(s.MonoUS)/1e6), "", 0, "R", false, 0, "")
		p.CellFormat(widths[3], 4, "  "+s.Event, "", 0, "L", false, 0, "")
		x := p.GetX()
		for i, l := range lines {
			p.SetXY(x, y+4*float64(i))
			p.CellFormat(widths[4], 4, l, "", 0, "L", false, 0, "")
		}
		p.SetXY(margin, y+4*float64(len(lines)))
	}
}

// keys lists the repositories' root keys, and the key of a key record,
// in hex and words.
func (d *doc) keys() error {
	a := d.a
	if a.Key != nil {
		d.heading("The key generated")
		d.field("Label", a.Key.Label)
		d.field("Algorithm, mode", a.Key.Algorithm+", "+a.Key.Mode+" ("+a.Key.Origin+")")
		d.field("Device", fmt.Sprintf("%s %q serial %s", a.Key.Device.Kind, a.Key.Device.Label, a.Key.Device.Serial))
		d.field("URI", a.Key.URI)
		d.mono("Key ID", a.Key.KeyID)
		if err := d.words(a.Key.KeyID); err != nil {
			return err
		}
		if a.Key.AttestationSHA256 != "" {
			d.mono("Attestation SHA-256", a.Key.AttestationSHA256)
		}
	}
	if len(a.Repos) == 0 {
		return nil
	}
	d.heading("Repositories")
	for _, r := range a.Repos {
		d.need(30)
		d.pdf.SetFont("Helvetica", "B", 9)
		d.pdf.CellFormat(0, 5, d.tr(r.GUN), "", 1, "L", false, 0, "")
		for _, role := range r.Roles {
			state := "threshold met"
			if !role.ThresholdMet {
				state = "THRESHOLD NOT MET"
			}
			d.field("  "+role.Role, fmt.Sprintf("version %d, expires %s, signed by %d of %d required: %s", role.Version,
				role.Expires.Format("2006-01-02"), len(role.SignedBy), role.Threshold, state))
		}
		for _, c := range r.RootCerts {
			d.mono("  root key", c.CanonicalID)
			if err := d.words(c.CanonicalID); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *doc) seal() error {
	a := d.a
	d.heading("The seal")
	d.pdf.SetFont("Helvetica", "", 9)
	d.pdf.MultiCell(0, 4.5, d.tr(fmt.Sprintf("Each key below signed, through its device, the transcript head and the SHA-256 of the %d files sealed "+
		"(seal.json; the message is keyrite-transcript-seal-v1, the head, every line's hash and every file's hash).", a.Seal.Files)), "", "L", false)
	for _, k := range a.Seal.Keys {
		d.need(25)
		d.mono("Sealed by key", k.KeyID)
		if err := d.words(k.KeyID); err != nil {
			return err
		}
		dev := fmt.Sprintf("%s %q", k.Device.Kind, k.Device.Label)
		if k.Device.Serial != "" {
			dev += " serial " + k.Device.Serial
		}
		d.field("  on device", dev+" ("+k.KeyURI+")")
	}
	for _, ps := range a.Seal.Prior {
		var ids []string
		for _, k := range ps.Keys {
			ids = append(ids, k.KeyID[:16])
		}
		d.field(fmt.Sprintf("Earlier seal (line %d)", ps.Line), fmt.Sprintf("head %s by %s", ps.Head[:16], strings.Join(ids, ", ")))
	}
	d.heading("Witness signatures")
	if len(a.Witnesses) == 0 {
		d.field("", "none yet: keyrite transcript witness adds one")
	}
	for _, w := range a.Witnesses {
		checked := "signature verified; no allowed signers declared or given"
		switch {
		case w.AllowedAt > 0:
			checked = fmt.Sprintf("allowed by line %d of the auditor's allowed signers", w.AllowedAt)
		case w.DeclaredAt > 0:
			checked = fmt.Sprintf("allowed by the witnesses declared at transcript line %d", w.DeclaredAt)
		}
		of := "the transcript head"
		if w.PriorLine > 0 {
			of = fmt.Sprintf("the head before line %d", w.PriorLine)
		}
		d.field(w.Name, fmt.Sprintf("%s %s over %s: %s", w.KeyType, w.Fingerprint, of, checked))
	}
	return nil
}

// files lists every file with its SHA-256 and what binds it.
func (d *doc) files() {
	p := d.pdf
	d.heading(fmt.Sprintf("Files (%d)", len(d.a.Files)))
	for _, f := range d.a.Files {
		d.need(9)
		p.SetFont("Courier", "", 7)
		p.CellFormat(0, 3.5, f.SHA256+"  "+f.Path, "", 1, "L", false, 0, "")
		p.SetFont("Helvetica", "I", 7)
		p.CellFormat(0, 3.5, d.tr("      bound by: "+strings.Join(f.BoundBy, "; ")), "", 1, "L", false, 0, "")
	}
}

// signatures is the last page: a line per witness and for the operator.
func (d *doc) signatures() error {
	p, a := d.pdf, d.a
	p.AddPage()
	p.SetFont("Helvetica", "B", 12)
	p.CellFormat(0, 7, "Signatures", "B", 1, "L", false, 0, "")
	p.SetFont("Helvetica", "", 9)
	p.MultiCell(0, 4.5, "By signing, I state that I was present at the ceremony this record describes, and that the transcript head "+
		"shown on the ceremony machine at its end was:", "", "L", false)
	p.SetFont("Courier", "B", 9)
	p.CellFormat(0, 5, a.TranscriptHead, "", 1, "L", false, 0, "")
	lines, err := backup.WordLines(a.TranscriptHead, 8)
	if err != nil {
		return err
	}
	p.SetFont("Helvetica", "I", 9)
	for _, l := range lines {
		p.CellFormat(0, 4.5, l, "", 1, "L", false, 0, "")
	}
	p.Ln(4)
	names := map[string]bool{}
	for _, w := range a.Witnesses {
		if w.PriorLine == 0 {
			names[w.Name] = true
		}
	}
	var roles []string
	for n := range names {
		roles = append(roles, "Witness: "+n)
	}
	sort.Strings(roles)
	roles = append(roles, "Witness", "Operator")
	for _, r := range roles {
		d.need(28)
		p.SetFont("Helvetica", "B", 9)
		p.CellFormat(0, 6, d.tr(r), "", 1, "L", false, 0, "")
		p.SetFont("Helvetica", "", 9)
		for _, f := range []string{"Name", "Signature", "Date and place"} {
			p.CellFormat(32, 7, f, "", 0, "L", false, 0, "")
			x, y := p.GetX(), p.GetY()
			p.Line(x, y+6, 210-margin, y+6)
			p.Ln(7)
		}
		p.Ln(3)
	}
	return nil
}
