package verify

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/internal/sshsig"
)

// WitnessReport is one witness's signature over a transcript head.
type WitnessReport struct {
	Name        string `json:"name"`
	KeyType     string `json:"key_type"`
	Fingerprint string `json:"fingerprint"` // SHA256:..., as ssh-keygen -l shows it
	Head        string `json:"transcript_head"`
	// DeclaredAt is the transcript line whose witnesses (an allowed
	// signers file the operator gave) list this key for this name; 0 when
	// the ceremony declared no witnesses.
	DeclaredAt int `json:"declared_at,omitempty"`
	// AllowedAt is the line of the auditor's allowed signers file that
	// allows it (transcript verify --allowed-signers).
	AllowedAt int `json:"allowed_signers_line,omitempty"`
	// PriorLine is, for a witness of an earlier ceremony, the
	// ceremony.start line that carries its signature; 0 for a witness of
	// the last ceremony (witnesses/NAME.sig).
	PriorLine int `json:"prior_line,omitempty"`

	sig *sshsig.Signature
}

// WitnessError is a witness signature that does not hold.
type WitnessError struct {
	Bundle, Witness, Reason string
}

func (e *WitnessError) Error() string {
	return fmt.Sprintf("bundle %s: witness %s: %s", e.Bundle, e.Witness, e.Reason)
}

func witnessFail(name, witness, format string, a ...any) error {
	return &WitnessError{Bundle: name, Witness: witness, Reason: fmt.Sprintf(format, a...)}
}

// declaration is the witnesses a ceremony declared.
type declaration struct {
	line    int
	at      time.Time
	signers sshsig.AllowedSigners
}

// declaredBefore is the latest witness declaration at or before line n.
func declaredBefore(entries []bundle.TranscriptEntry, n int) (*declaration, error) {
	var d *declaration
	for _, e := range entries {
		if e.Seq > n {
			break
		}
		if e.Event != "ceremony.start" {
			continue
		}
		var ev struct {
			Witnesses string `json:"witnesses"`
		}
		if json.Unmarshal(e.Data, &ev) != nil || ev.Witnesses == "" {
			continue
		}
		signers, err := sshsig.ParseAllowedSigners([]byte(ev.Witnesses))
		if err != nil {
			return nil, fmt.Errorf("transcript line %d: its witnesses: %v", e.Seq, err)
		}
		d = &declaration{line: e.Seq, at: e.Time, signers: signers}
	}
	return d, nil
}

// CheckWitness verifies one witness signature over head: SSHSIG, namespace
// keyrite-transcript, over transcript.head's bytes, and by a key the
// transcript's witness declaration (if any) lists for the name.
func CheckWitness(witness string, armored []byte, head string, d *declaration) (*WitnessReport, error) {
	if err := bundle.CheckWitnessName(witness); err != nil {
		return nil, err
	}
	sig, err := sshsig.Parse(armored)
	if err != nil {
		return nil, err
	}
	if err := sig.Verify(bundle.WitnessNamespace, bundle.HeadFile(head)); err != nil {
		return nil, fmt.Errorf("%v: it is not a signature of this transcript's head %s (transcript.head)", err, head[:16])
	}
	w := &WitnessReport{Name: witness, KeyType: sig.PublicKey.Type(), Fingerprint: sig.Fingerprint(), Head: head, sig: sig}
	if d != nil {
		if err := d.signers.Check(witness, sig.PublicKey, bundle.WitnessNamespace, d.at); err != nil {
			return nil, fmt.Errorf("signed by key %s, which the witnesses declared at transcript line %d do not allow for %s (%v)", w.Fingerprint, d.line, witness, err)
		}
		w.DeclaredAt = d.line
	}
	return w, nil
}

// checkWitnesses verifies the witnesses' signatures of a bundle or record:
// witnesses/NAME.sig over its transcript head, and those the transcript
// carries from earlier ceremonies (prior_witnesses) over the head of the
// line before the ceremony.start that carries them.
func checkWitnesses(name string, files bundle.Files, entries []bundle.TranscriptEntry) ([]WitnessReport, error) {
	head := bundle.TranscriptHead(files[bundle.TranscriptName])
	last, err := declaredBefore(entries, len(entries))
	if err != nil {
		return nil, &bundle.Error{Bundle: name, Reason: err.Error()}
	}
	var paths []string
	for p := range files {
		if strings.HasPrefix(p, bundle.WitnessDir) {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	var out []WitnessReport
	for _, p := range paths {
		w, ok := bundle.WitnessName(p)
		if !ok {
			return nil, &bundle.Error{Bundle: name, Reason: fmt.Sprintf("%s is not a witness signature (%sNAME.sig)", p, bundle.WitnessDir)}
		}
		r, err := CheckWitness(w, files[p], head, last)
		if err != nil {
			return nil, witnessFail(name, w, "%v", err)
		}
		out = append(out, *r)
	}
	lines := bundle.LineHashes(files[bundle.TranscriptName])
	for _, e := range entries {
		if e.Event != "ceremony.start" || e.Seq < 2 {
			continue
		}
		var ev struct {
			Prior map[string]string `json:"prior_witnesses"`
		}
		if json.Unmarshal(e.Data, &ev) != nil || len(ev.Prior) == 0 {
			continue
		}
		d, err := declaredBefore(entries, e.Seq-1)
		if err != nil {
			return nil, &bundle.Error{Bundle: name, Reason: err.Error()}
		}
		var names []string
		for w := range ev.Prior {
			names = append(names, w)
		}
		sort.Strings(names)
		for _, w := range names {
			r, err := CheckWitness(w, []byte(ev.Prior[w]), lines[e.Seq-2], d)
			if err != nil {
				return nil, witnessFail(name, w, "(of the ceremony before transcript line %d) %v", e.Seq, err)
			}
			r.PriorLine = e.Seq
			out = append(out, *r)
		}
	}
	return out, nil
}

// CheckAllowed checks each witness against an auditor's allowed signers
// file, as ssh-keygen -Y verify -f FILE -I NAME -n keyrite-transcript
// would at now.
func CheckAllowed(name string, ws []WitnessReport, allowed sshsig.AllowedSigners, now time.Time) error {
	for i := range ws {
		w := &ws[i]
		if err := allowed.Check(w.Name, w.sig.PublicKey, bundle.WitnessNamespace, now); err != nil {
			return witnessFail(name, w.Name, "signed by key %s: %v", w.Fingerprint, err)
		}
		for _, s := range allowed {
			if string(s.Key.Marshal()) == string(w.sig.PublicKey.Marshal()) && s.Line > 0 {
				w.AllowedAt = s.Line
				break
			}
		}
	}
	return nil
}

// CheckNewWitness verifies a witness signature about to be added to a
// bundle or record (files, whose transcript is verified): over its
// transcript head, by a key the transcript's witness declaration (if any)
// lists for the name; and that the name has not signed yet.
func CheckNewWitness(dir string, files bundle.Files, witness string, armored []byte) (*WitnessReport, error) {
	if err := bundle.CheckWitnessName(witness); err != nil {
		return nil, err
	}
	if _, ok := files[bundle.WitnessFile(witness)]; ok {
		return nil, witnessFail(dir, witness, "has signed this transcript already (%s)", bundle.WitnessFile(witness))
	}
	entries, err := bundle.VerifyTranscript(files[bundle.TranscriptName])
	if err != nil {
		return nil, &bundle.Error{Bundle: dir, Reason: err.Error()}
	}
	d, err := declaredBefore(entries, len(entries))
	if err != nil {
		return nil, &bundle.Error{Bundle: dir, Reason: err.Error()}
	}
	r, err := CheckWitness(witness, armored, bundle.TranscriptHead(files[bundle.TranscriptName]), d)
	if err != nil {
		return nil, witnessFail(dir, witness, "%v", err)
	}
	return r, nil
}
