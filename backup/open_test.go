package backup

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestAlteredByte: one byte changed anywhere in a share file, in its
// header, its age header or its encrypted payload, is refused.
func TestAlteredByte(t *testing.T) {
	ps := parties(t, 2)
	b := makeBackup(t, newKey(t), ps, 2)
	name := ShareFileName(ps[0].c.Name)
	orig := b.Files[name]
	armStart := bytes.Index(orig, []byte("-----BEGIN"))
	// Offsets: the header's share number and custodian, then every 7th
	// byte of the base64 body.
	offsets := []int{bytes.Index(orig, []byte("share: ")) + 7, bytes.Index(orig, []byte("custodian: ")) + 11, bytes.Index(orig, []byte("key-id: ")) + 8}
	for i := armStart + 40; i < len(orig)-40; i += 7 {
		if orig[i] != '\n' {
			offsets = append(offsets, i)
		}
	}
	for _, off := range offsets {
		bad := bytes.Clone(orig)
		bad[off] = flip(bad[off])
		b.Files[name] = bad
		s, err := open(t, b, ps[0])
		if err == nil {
			// A change inside the base64 that still decrypts is impossible
			// (age authenticates everything); report where.
			t.Fatalf("a share altered at byte %d opened (share %d)", off, s.Number())
		}
		// A change in the age header's recipient stanza can make it look
		// like a share for someone else: an identity error, also clear.
		var se *ShareError
		if !errors.As(err, &se) && !isIdentityError(err) {
			t.Fatalf("altered at byte %d: %T %v, want a ShareError", off, err, err)
		}
	}
	b.Files[name] = orig
	mustOpen(t, b, ps[0])
}

// flip changes a byte to another byte of the same class, so that the
// change survives parsing and has to be caught by authentication.
func flip(c byte) byte {
	switch {
	case c >= 'a' && c < 'z', c >= 'A' && c < 'Z', c >= '0' && c < '9':
		return c + 1
	case c == 'z':
		return 'a'
	case c == 'Z':
		return 'A'
	case c == '9':
		return '0'
	}
	return c ^ 1
}

// TestWrongIdentity: a clear error naming the share and its recipient type.
func TestWrongIdentity(t *testing.T) {
	ps := parties(t, 2)
	b := makeBackup(t, newKey(t), ps, 2)
	_, err := open(t, b, party{c: ps[0].c, ids: ps[1].ids})
	if !isIdentityError(err) || !strings.Contains(err.Error(), "none of the identities given decrypts it (it is encrypted to a X25519 recipient)") {
		t.Fatalf("err = %v", err)
	}
	pass := party{c: mustCustodian(t, "p=passphrase"), pass: []byte("right horse battery staple")}
	b2 := makeBackup(t, newKey(t), []party{pass}, 1)
	_, err = open(t, b2, party{c: pass.c, pass: []byte("wrong")})
	if !isIdentityError(err) || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("err = %v", err)
	}
}

// TestTypedAndScannedText: the armored text alone (no header), rewrapped
// with other line lengths and CRLF, and the QR parts in any order with
// scanner noise around them, all open.
func TestTypedAndScannedText(t *testing.T) {
	ps := parties(t, 1)
	key := newKey(t)
	b := makeBackup(t, key, ps, 1)
	text := b.Files[ShareFileName(ps[0].c.Name)]
	arm := text[bytes.Index(text, []byte("-----BEGIN")):]
	lines := strings.Split(strings.TrimSpace(string(arm)), "\n")
	body := strings.Join(lines[1:len(lines)-1], "")
	var typed strings.Builder
	typed.WriteString("  " + lines[0] + "\r\n")
	for i := 0; i < len(body); i += 40 {
		typed.WriteString(body[i:min(i+40, len(body))] + "\r\n")
	}
	typed.WriteString(lines[len(lines)-1] + "\r\n\r\n")
	for _, in := range []struct{ name, text string }{{"typed", typed.String()}} {
		f, err := ParseShareFile(in.name, []byte(in.text))
		if err != nil {
			t.Fatal(err)
		}
		if f.Header != nil {
			t.Error("typed text has no header")
		}
		s, err := (&Opener{Identities: ps[0].ids}).Open(f)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := Recover([]*Share{s}); err != nil || !r.Key.Equal(key) {
			t.Fatal(err)
		}
	}
	parts := QRParts(text, testKeyID, 300)
	if len(parts) < 3 {
		t.Fatalf("%d parts", len(parts))
	}
	var scanned strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		scanned.WriteString("QR-Code:" + parts[i] + "\n")
	}
	f, err := ParseShareFile("scanned", []byte(scanned.String()))
	if err != nil {
		t.Fatal(err)
	}
	if f.Header == nil || f.Header.Custodian != ps[0].c.Name {
		t.Fatalf("scanned header: %+v", f.Header)
	}
	if _, err := (&Opener{Identities: ps[0].ids}).Open(f); err != nil {
		t.Fatal(err)
	}
	// A missing part is named.
	_, err = ParseShareFile("partial", []byte(strings.Join(parts[1:], "\n")))
	if err == nil || !strings.Contains(err.Error(), "QR part 1 of") {
		t.Fatalf("missing part: %v", err)
	}
}

// A passphrase share demanding more scrypt work than keyrite's shares
// (age's default) is refused before the work is done: a doctored share
// could otherwise demand 4 GiB and minutes.
func TestScryptWorkFactorBounded(t *testing.T) {
	pass := party{c: mustCustodian(t, "p=passphrase"), pass: []byte("right horse battery staple")}
	b := makeBackup(t, newKey(t), []party{pass}, 1) // work factor 10
	f, err := ParseShareFile("p.share.age", b.Files[ShareFileName("p")])
	if err != nil {
		t.Fatal(err)
	}
	o := &Opener{Passphrase: func(*ShareFile) ([]byte, error) { return []byte("right horse battery staple"), nil }, MaxWorkFactor: 9}
	_, err = o.Open(f)
	var se *ShareError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "work factor") {
		t.Fatalf("err = %v", err)
	}
	o.MaxWorkFactor = 0 // DefaultMaxWorkFactor
	if _, err := o.Open(f); err != nil {
		t.Fatal(err)
	}
}
