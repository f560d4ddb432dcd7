package bundle

import (
	"bytes"
	"encoding/json"
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
		event := "step"
		if i == 0 {
			event = "ceremony.start"
		}
		if err := tr.Append(event, map[string]int{"n": i}); err != nil {
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
	next.Append("ceremony.start", nil)
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
		"not started":  {rechain(t, entriesOf(t, b)[1:]), "line 1: the first line is not a ceremony.start"},
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

func entriesOf(t *testing.T, b []byte) []TranscriptEntry {
	t.Helper()
	e, err := VerifyTranscript(b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// rechain writes entries as a forger would: sequence numbers and hashes
// recomputed.
func rechain(t *testing.T, entries []TranscriptEntry) []byte {
	t.Helper()
	var out bytes.Buffer
	prev := genesis
	for i, e := range entries {
		e.Seq, e.Prev = i+1, prev
		line, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(line)
		out.WriteByte('\n')
		prev = lineHash(line, false)
	}
	return out.Bytes()
}

// Each line has its own wall time and a monotonic offset since its
// ceremony's first line; lines reordered within a ceremony, even re-chained,
// go back in monotonic time.
func TestTranscriptMonotonicOffsets(t *testing.T) {
	wall := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tr, _ := NewTranscript(nil, "init", func() time.Time { wall = wall.Add(time.Second); return wall })
	tr.Append("ceremony.start", nil)
	time.Sleep(2 * time.Millisecond)
	tr.Append("repo.init", nil)
	time.Sleep(2 * time.Millisecond)
	tr.Append("ceremony.end", nil)
	e := entriesOf(t, tr.Bytes())
	if e[0].MonoUS != 0 || e[1].MonoUS < 2000 || e[2].MonoUS < e[1].MonoUS+2000 || !e[2].Time.After(e[1].Time) {
		t.Fatalf("offsets %d %d %d, times %s %s", e[0].MonoUS, e[1].MonoUS, e[2].MonoUS, e[1].Time, e[2].Time)
	}
	swapped := []TranscriptEntry{e[0], e[2], e[1]}
	if _, err := VerifyTranscript(rechain(t, swapped)); err == nil || !strings.Contains(err.Error(), "line 3: its monotonic offset") {
		t.Fatalf("reordered: %v", err)
	}
	// A continuing ceremony starts again from 0.
	next, _ := NewTranscript(tr.Bytes(), "sign", time.Now)
	next.Append("ceremony.start", nil)
	next.Append("ceremony.end", nil)
	if e := entriesOf(t, next.Bytes()); e[3].MonoUS != 0 {
		t.Fatalf("continued ceremony.start at %dus", e[3].MonoUS)
	}
}
