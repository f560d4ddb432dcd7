package bundle

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// genesis is the "previous hash" of a transcript's first line.
var genesis = strings.Repeat("0", 64)

// TranscriptEntry is one line of transcript.jsonl. Secrets never go in: arguments are
// recorded as given on the command line, where keyrite accepts no secrets.
type TranscriptEntry struct {
	Seq     int             `json:"seq"`
	Time    time.Time       `json:"time"`
	Command string          `json:"command"`
	Event   string          `json:"event"`
	Data    json.RawMessage `json:"data,omitempty"`
	Prev    string          `json:"prev"` // SHA-256 of the previous line
}

// Transcript is an append-only, hash-chained record of a ceremony.
type Transcript struct {
	buf     bytes.Buffer
	seq     int
	last    string
	command string
	now     func() time.Time
}

// NewTranscript starts a transcript, continuing prior lines if given (a
// later ceremony extends the record of the bundle it started from).
func NewTranscript(prior []byte, command string, now func() time.Time) (*Transcript, error) {
	t := &Transcript{last: genesis, command: command, now: now}
	if len(prior) > 0 {
		entries, err := VerifyTranscript(prior)
		if err != nil {
			return nil, err
		}
		t.buf.Write(prior)
		t.seq = len(entries)
		t.last = TranscriptHead(prior)
	}
	return t, nil
}

// Append adds an event.
func (t *Transcript) Append(event string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	t.seq++
	return t.appendEntry(TranscriptEntry{Seq: t.seq, Time: t.now().UTC(), Command: t.command, Event: event, Data: raw, Prev: t.last})
}

// Bytes returns the transcript so far.
func (t *Transcript) Bytes() []byte { return bytes.Clone(t.buf.Bytes()) }

// Head is the hash of the last line: what a seal signs.
func (t *Transcript) Head() string { return t.last }

// TranscriptHead is the hash of a transcript's last line, the value a seal
// signs and verify reports.
func TranscriptHead(b []byte) string { return lineHash(bytes.TrimSuffix(b, []byte("\n")), true) }

// lineHash hashes one line; with lastOfMany it hashes the last line of a
// multi-line text.
func lineHash(b []byte, lastOfMany bool) string {
	if lastOfMany {
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return SHA256Hex(b)
}

// SHA256Hex is the one digest keyrite records for files and lines: the
// SHA-256 of b in lower-case hex, as manifests and transcripts write it.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TranscriptError is a broken transcript.
type TranscriptError struct {
	Line   int
	Reason string
}

func (e *TranscriptError) Error() string {
	return fmt.Sprintf("transcript line %d: %s", e.Line, e.Reason)
}

// VerifyTranscript checks the chain: consecutive sequence numbers and each
// line naming the hash of the one before.
func VerifyTranscript(b []byte) ([]TranscriptEntry, error) {
	var out []TranscriptEntry
	prev := genesis
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		var e TranscriptEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, &TranscriptError{n, "not valid JSON"}
		}
		// A key given twice reads differently in other parsers; the last
		// line's hash is checked by nothing after it.
		if err := checkNoDuplicateKeys(line); err != nil {
			return nil, &TranscriptError{n, err.Error()}
		}
		if e.Seq != n {
			return nil, &TranscriptError{n, fmt.Sprintf("sequence number %d, expected %d (a line was removed or reordered)", e.Seq, n)}
		}
		if e.Prev != prev {
			return nil, &TranscriptError{n, "does not chain to the line before (a line was changed)"}
		}
		prev = lineHash(line, false)
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		return nil, &TranscriptError{n, "the last line is cut short"}
	}
	return out, nil
}

func (t *Transcript) appendEntry(e TranscriptEntry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	t.buf.Write(line)
	t.buf.WriteByte('\n')
	t.last = lineHash(line, false)
	return nil
}
