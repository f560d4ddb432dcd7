package bundle

import (
	"strings"
	"testing"
)

// The message a seal's keys sign, byte for byte, as the README documents
// it and scripts/check-seal rebuilds it.
func TestSealMessageBytes(t *testing.T) {
	tr := []byte("{\"seq\":1}\n{\"seq\":2}\n")
	l1, l2 := SHA256Hex([]byte(`{"seq":1}`)), SHA256Hex([]byte(`{"seq":2}`))
	files := Files{
		TranscriptName:                    tr,
		HeadName:                          HeadFile(l2),
		SignedInfoName:                    []byte("{}\n"),
		"repos/a/_trust/root.json":        []byte("root"),
		ManifestName:                      []byte("not sealed"),
		SealName:                          []byte("not sealed"),
		"witnesses/alice@example.com.sig": []byte("not sealed"),
	}
	s, err := NewSeal(files)
	if err != nil {
		t.Fatal(err)
	}
	want := "keyrite-transcript-seal-v1\n" +
		"transcript-head " + l2 + "\n" +
		"line 1 " + l1 + "\n" +
		"line 2 " + l2 + "\n" +
		"file " + SHA256Hex([]byte("{}\n")) + " bundle.json\n" +
		"file " + SHA256Hex([]byte("root")) + " repos/a/_trust/root.json\n" +
		"file " + SHA256Hex([]byte(l2+"\n")) + " transcript.head\n" +
		"file " + SHA256Hex(tr) + " transcript.jsonl\n"
	if got := string(s.Message()); got != want {
		t.Fatalf("message:\n%s\nwant:\n%s", got, want)
	}
	if string(HeadFile(l2)) != l2+"\n" {
		t.Fatal("transcript.head is the head and a newline")
	}
	// transcript.head must hold the head.
	files[HeadName] = HeadFile(l1)
	if _, err := NewSeal(files); err == nil {
		t.Fatal("sealed a transcript.head that is not the head")
	}
	b, _ := s.Marshal()
	if _, err := ParseSeal(b); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseSeal([]byte(strings.Replace(string(b), `"format"`, `"extra": 1, "format"`, 1))); err == nil {
		t.Fatal("an unknown field is accepted")
	}
	for _, n := range []string{"alice@example.com", "bob", "a.b-c+d_e"} {
		if CheckWitnessName(n) != nil {
			t.Errorf("witness name %q refused", n)
		}
	}
	for _, n := range []string{"", ".hidden", "a/b", "a b", "../x", strings.Repeat("x", 65)} {
		if CheckWitnessName(n) == nil {
			t.Errorf("witness name %q accepted", n)
		}
	}
}
