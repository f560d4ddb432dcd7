package bundle

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTranscriptChain(t *testing.T) {
	tr, err := NewTranscript(nil, "init", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := tr.Append("step", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	b := tr.Bytes()
	entries, err := VerifyTranscript(b)
	if err != nil || len(entries) != 3 || entries[0].Prev != genesis {
		t.Fatalf("entries %d, err %v", len(entries), err)
	}
	// A later ceremony continues the chain.
	next, err := NewTranscript(b, "sign", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	next.Append("more", nil)
	if e, err := VerifyTranscript(next.Bytes()); err != nil || len(e) != 4 || e[3].Prev != tr.Head() {
		t.Fatalf("continued: %d entries, %v", len(e), err)
	}

	lines := bytes.SplitAfter(b, []byte("\n"))
	for name, c := range map[string]struct {
		text []byte
		want string
	}{
		"line changed": {bytes.Replace(b, []byte(`"n":1`), []byte(`"n":7`), 1), "line 3: does not chain"},
		"line removed": {append(append([]byte{}, lines[0]...), lines[2]...), "line 2: sequence number 3"},
		"cut short":    {b[:len(b)-1], "cut short"},
	} {
		_, err := VerifyTranscript(c.text)
		var te *TranscriptError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
}

func TestVerifyTranscriptRefusesDuplicateKeys(t *testing.T) {
	tr, _ := NewTranscript(nil, "init", time.Now)
	tr.Append("ceremony.start", nil)
	tr.Append("ceremony.end", map[string]any{"ok": true})
	b := tr.Bytes()
	forged := bytes.Replace(b, []byte(`"event":"ceremony.end"`), []byte(`"event":"ceremony.end","event":"ceremony.end"`), 1)
	_, err := VerifyTranscript(forged)
	var te *TranscriptError
	if !errors.As(err, &te) || te.Line != 2 || !strings.Contains(err.Error(), `key "event" appears twice`) {
		t.Fatalf("err = %v", err)
	}
}
