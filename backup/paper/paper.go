// Package paper renders a backup share as a printable sheet (PDF): what
// the share is, the key ID as words to read aloud, the share's text as QR
// codes, the same text to type back by hand, and how to restore.
package paper

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
	"github.com/go-pdf/fpdf"

	"github.com/keyrite/keyrite/backup"
)

// QRChunk is the most share text one QR code carries. Smaller codes have
// bigger modules, which survive printers, photocopies and phone cameras.
const QRChunk = 700

// NoHeaderError is share text without its header (share number,
// custodian, key ID): the armored text alone, typed or scanned, which
// opens but cannot be printed as a sheet.
type NoHeaderError struct{ File string }

func (e *NoHeaderError) Error() string {
	return fmt.Sprintf("%s has no share header (share number, custodian, key ID): only the armored text", e.File)
}

// Render makes the sheet for one share file (its full text, header
// included). created dates the PDF itself, so the same share always gives
// the same document.
func Render(f *backup.ShareFile, text []byte, created time.Time) ([]byte, error) {
	if f.Header == nil {
		return nil, &NoHeaderError{File: f.Name}
	}
	h := f.Header
	words, err := backup.WordLines(h.KeyID, 8)
	if err != nil {
		return nil, err
	}
	parts := backup.QRParts(text, h.KeyID, QRChunk)

	pdf := newDocument(h, created)
	writeDescription(pdf, h, words)
	if err := writeQRCodes(pdf, parts); err != nil {
		return nil, err
	}
	writeRestorePage(pdf, h, text)
	if err := pdf.Error(); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := pdf.Output(&out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// newDocument starts a reproducible A4 document dated created, on its
// first page.
func newDocument(h *backup.Header, created time.Time) *fpdf.Fpdf {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreationDate(created)
	pdf.SetModificationDate(created)
	pdf.SetTitle(fmt.Sprintf("keyrite backup share %d, custodian %s, key %s", h.Share, h.Custodian, h.KeyID[:16]), false)
	pdf.SetProducer("keyrite", false)
	pdf.SetCatalogSort(true) // reproducible output
	pdf.SetMargins(15, 15, 15)
	pdf.SetAutoPageBreak(true, 15)
	pdf.AddPage()
	return pdf
}

// writeDescription writes what the share is: the title, a paragraph for
// the custodian, the header's fields and the key ID in words.
func writeDescription(pdf *fpdf.Fpdf, h *backup.Header, words []string) {
	pdf.SetFont("Helvetica", "B", 16)
	pdf.CellFormat(0, 9, "keyrite backup share", "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	pdf.MultiCell(0, 5, fmt.Sprintf("Share %d of a root key backup. Any %d shares restore the key; fewer reveal nothing. "+
		"This share is encrypted to its custodian: keep it safe, and keep it apart from the other shares.", h.Share, h.Threshold), "", "L", false)
	pdf.Ln(2)

	field := func(name, value string) {
		pdf.SetFont("Helvetica", "B", 10)
		pdf.CellFormat(28, 6, name, "", 0, "L", false, 0, "")
		pdf.SetFont("Courier", "", 10)
		pdf.CellFormat(0, 6, value, "", 1, "L", false, 0, "")
	}
	field("Custodian", h.Custodian)
	field("Share", fmt.Sprintf("%d (threshold %d)", h.Share, h.Threshold))
	field("Created", h.Created)
	field("Key ID", h.KeyID[:32])
	field("", h.KeyID[32:])
	pdf.SetFont("Helvetica", "B", 10)
	pdf.CellFormat(0, 6, "Key ID in words (read aloud; keyrite backup verify prints the same words):", "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	for _, l := range words {
		pdf.CellFormat(0, 5, "    "+l, "", 1, "L", false, 0, "")
	}
	pdf.Ln(3)
}

// writeQRCodes draws the share's QR codes, two per row, each numbered.
func writeQRCodes(pdf *fpdf.Fpdf, parts []string) error {
	const size, gap = 72.0, 12.0
	pdf.SetFont("Helvetica", "B", 10)
	pdf.CellFormat(0, 6, fmt.Sprintf("The share as %d QR code(s): scan every one, in any order.", len(parts)), "", 1, "L", false, 0, "")
	for i, p := range parts {
		code, err := qr.Encode(p, qr.M, qr.Auto)
		if err != nil {
			return fmt.Errorf("QR code %d: %w", i+1, err)
		}
		col := i % 2
		if col == 0 {
			if pdf.GetY()+size+8 > 297-15 {
				pdf.AddPage()
			}
		}
		x := 15 + 12 + float64(col)*(size+gap)
		y := pdf.GetY()
		drawQR(pdf, code, x, y, size)
		pdf.SetXY(x, y+size)
		pdf.SetFont("Helvetica", "", 8)
		pdf.CellFormat(size, 4, fmt.Sprintf("QR %d of %d", i+1, len(parts)), "", 0, "C", false, 0, "")
		if col == 1 || i == len(parts)-1 {
			pdf.SetXY(15, y+size+6)
		} else {
			pdf.SetXY(15, y)
		}
	}
	return nil
}

// writeRestorePage writes, on a new page, how to restore and the share's
// text to type back.
func writeRestorePage(pdf *fpdf.Fpdf, h *backup.Header, text []byte) {
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 10)
	pdf.CellFormat(0, 6, "How to restore", "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 9)
	pdf.MultiCell(0, 4.5, strings.Join([]string{
		"1. Save this share as a text file: scan the QR codes (e.g. zbarimg --raw sheet.png > share.txt), or type the text below exactly as printed.",
		"2. With the other custodians (" + fmt.Sprint(h.Threshold) + " shares in all), on the air-gapped machine:",
		"     keyrite backup verify --identity CUSTODIAN-IDENTITY share.txt OTHER-SHARES...",
		"   checks that the shares restore the key and writes nothing; it prints the key ID and these words.",
		"     keyrite recover restore --to DEVICE-URI --identity ... -o restore-record/ share.txt OTHER-SHARES...",
		"   puts the key on a new device (YubiKey or PKCS#11 token).",
		"3. The text between the BEGIN and END lines is a standard age file: age -d -i IDENTITY opens it.",
	}, "\n"), "", "L", false)
	pdf.Ln(3)
	pdf.SetFont("Helvetica", "B", 10)
	pdf.CellFormat(0, 6, "The share, as text", "", 1, "L", false, 0, "")
	pdf.SetFont("Courier", "", 8)
	for _, line := range strings.Split(strings.TrimRight(string(text), "\n"), "\n") {
		pdf.CellFormat(0, 3.4, line, "", 1, "L", false, 0, "")
	}
}

// drawQR draws a code's dark modules as filled rectangles, one per
// horizontal run, with a four-module quiet zone inside size.
func drawQR(pdf *fpdf.Fpdf, code barcode.Barcode, x, y, size float64) {
	b := code.Bounds()
	n := b.Dx()
	m := size / float64(n+8)
	pdf.SetFillColor(0, 0, 0)
	dark := func(cx, cy int) bool {
		r, _, _, _ := code.At(b.Min.X+cx, b.Min.Y+cy).RGBA()
		return r < 0x8000
	}
	for row := 0; row < n; row++ {
		for col := 0; col < n; {
			if !dark(col, row) {
				col++
				continue
			}
			start := col
			for col < n && dark(col, row) {
				col++
			}
			pdf.Rect(x+float64(4+start)*m, y+float64(4+row)*m, float64(col-start)*m, m, "F")
		}
	}
}
