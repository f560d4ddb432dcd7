package paper

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/keyrite/keyrite/backup"
)

const keyID = "e58294f2e9a227486e8b061b31cc528fd7fa3f19e58294f2e9a227486e8b061b"

// TestPaperRoundTrip prints the sheets of an X25519 and a post-quantum
// share, turns the PDFs into images with pdftoppm, decodes the QR codes
// with zbarimg, and restores the key from the decoded text alone.
func TestPaperRoundTrip(t *testing.T) {
	for _, tool := range []string{"pdftoppm", "zbarimg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run scripts/setup (Debian poppler-utils, zbar-tools)", tool)
		}
	}
	x, _ := age.GenerateX25519Identity()
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	cx, _ := backup.ParseCustodian("alice=" + x.Recipient().String())
	cpq, _ := backup.ParseCustodian("bob=" + pq.Recipient().String())
	key, err := backup.NewKey("P-256")
	if err != nil {
		t.Fatal(err)
	}
	b, err := backup.Create(backup.CreateOptions{Key: key, KeyID: keyID, Label: "root", Custodians: []backup.Custodian{cx, cpq},
		Threshold: 2, Created: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var shares []*backup.Share
	for _, c := range []struct {
		name string
		id   age.Identity
	}{{"alice", x}, {"bob", pq}} {
		text := b.Files[backup.ShareFileName(c.name)]
		f, err := backup.ParseShareFile(c.name, text)
		if err != nil {
			t.Fatal(err)
		}
		pdf, err := Render(f, text, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		again, _ := Render(f, text, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
		if !bytes.Equal(pdf, again) {
			t.Errorf("%s: the same share renders differently twice", c.name)
		}
		pdfPath := filepath.Join(dir, c.name+".pdf")
		if err := os.WriteFile(pdfPath, pdf, 0o600); err != nil {
			t.Fatal(err)
		}
		prefix := filepath.Join(dir, c.name)
		if out, err := exec.Command("pdftoppm", "-r", "200", "-png", pdfPath, prefix).CombinedOutput(); err != nil {
			t.Fatalf("pdftoppm: %v\n%s", err, out)
		}
		pngs, _ := filepath.Glob(prefix + "-*.png")
		if len(pngs) < 2 {
			t.Fatalf("pdftoppm made %v", pngs)
		}
		// zbarimg exits 4 for a page without any code (the text page).
		scanned, err := exec.Command("zbarimg", append([]string{"--quiet", "--raw"}, pngs...)...).Output()
		if err != nil && !strings.Contains(err.Error(), "exit status 4") {
			t.Fatalf("zbarimg %s: %v", pngs, err)
		}
		nCodes := strings.Count(string(scanned), "KRQR1 ")
		t.Logf("%s: %d bytes of share text, %d QR codes, %d-byte PDF", c.name, len(text), nCodes, len(pdf))
		sf, err := backup.ParseShareFile(c.name+" (scanned)", scanned)
		if err != nil {
			t.Fatalf("parsing what zbarimg decoded: %v\n%s", err, scanned)
		}
		if sf.Header == nil || sf.Header.Custodian != c.name {
			t.Fatalf("scanned header %+v", sf.Header)
		}
		s, err := (&backup.Opener{Identities: []age.Identity{c.id}}).Open(sf)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, s)
		// The PDF holds the text too, for typing: pdftotext finds the
		// armored lines.
		if out, err := exec.Command("pdftotext", "-layout", pdfPath, "-").Output(); err != nil {
			t.Fatalf("pdftotext: %v", err)
		} else if !strings.Contains(string(out), "-----BEGIN AGE ENCRYPTED FILE-----") || !strings.Contains(string(out), "topmost") {
			t.Errorf("%s: the PDF text lacks the armored share or the key ID words", c.name)
		}
	}
	r, err := backup.Recover(shares)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Key.Equal(key) {
		t.Fatal("the key restored from paper differs")
	}
}

func TestRenderNeedsHeader(t *testing.T) {
	_, err := Render(&backup.ShareFile{Name: "typed.txt"}, nil, time.Now())
	var nh *NoHeaderError
	if !errors.As(err, &nh) || nh.File != "typed.txt" || !strings.Contains(err.Error(), "typed.txt has no share header") {
		t.Fatalf("err = %v", err)
	}
}
