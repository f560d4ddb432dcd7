package backup

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// FuzzParseShareFile: a share file that parses holds an armored age file
// that decodes, in the canonical armor; that armor alone parses to the
// same share without a header; the header printed again with it parses to
// the same header; and QR parts of the text, in any order, give it back.
func FuzzParseShareFile(f *testing.F) {
	key, _ := NewKey("P-256")
	id, _ := age.GenerateX25519Identity()
	alice := Custodian{Name: "alice", Recipient: id.Recipient().String(), Kind: KindX25519}
	if b, err := Create(CreateOptions{Key: key, KeyID: testKeyID, Label: "root", Custodians: []Custodian{alice}, Threshold: 1}); err == nil {
		text := b.Files[ShareFileName("alice")]
		f.Add(text)
		f.Add(text[bytes.Index(text, []byte("-----BEGIN")):])
		parts := QRParts(text, testKeyID, 300)
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
		f.Add([]byte("scanner says hi\n" + strings.Join(parts, "\n--\n")))
	}
	f.Add([]byte("keyrite backup share v1\nkey-id: x\n\n-----BEGIN AGE ENCRYPTED FILE-----\nYQ==\n-----END AGE ENCRYPTED FILE-----\n"))
	f.Add([]byte("KRQR1 1/2 5 0123456789abcdef\nhelloKRQR1 2/2 3 0123456789abcdef\nabc"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := ParseShareFile("s", data)
		if err != nil {
			var se *ShareError
			if !errors.As(err, &se) || se.File != "s" {
				t.Fatalf("not a ShareError naming the file: %v", err)
			}
			return
		}
		raw, err := decodeArmor(sf.Armored)
		if err != nil {
			t.Fatalf("parsed, but its armor does not decode: %v", err)
		}
		again, err := ParseShareFile("s", sf.Armored)
		if err != nil || again.Header != nil || !bytes.Equal(again.Armored, sf.Armored) {
			t.Fatalf("the armor alone: %v", err)
		}
		if !bytes.Equal(armorBytes(raw), sf.Armored) {
			t.Fatal("the armor is not canonical")
		}
		if sf.Header != nil {
			text := append([]byte(sf.Header.text()+"\n"), sf.Armored...)
			h, err := ParseShareFile("s", text)
			if err != nil || h.Header == nil || *h.Header != *sf.Header || !bytes.Equal(h.Armored, sf.Armored) {
				t.Fatalf("header %+v printed again: %+v, %v", sf.Header, h, err)
			}
		}
	})
}

func decodeArmor(a []byte) ([]byte, error) {
	var out bytes.Buffer
	_, err := out.ReadFrom(armor.NewReader(bytes.NewReader(a)))
	return out.Bytes(), err
}

// QR texts whose numbers claim more than was scanned are refused without
// allocating for them (a billion parts took gigabytes; an out-of-range
// count crashed).
func TestQRPartsNumbersBounded(t *testing.T) {
	for _, text := range []string{
		"KRQR1 1/999999999 1 0123456789abcdef\nx",
		"KRQR1 1/99999999999999999999999 1 0123456789abcdef\nx",
		"KRQR1 1/1 99999999999999999999999 0123456789abcdef\nx",
		"KRQR1 1/1 9223372036854775807 0123456789abcdef\nx",
		"KRQR1 1/2 1 0123456789abcdef\nx",
	} {
		if _, err := ParseShareFile("s", []byte(text)); err == nil {
			t.Errorf("%q accepted", text)
		}
	}
}
