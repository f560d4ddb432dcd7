package verify

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// SealReport is a verified seal: who sealed what.
type SealReport struct {
	TranscriptHead string      `json:"transcript_head"`
	Lines          int         `json:"transcript_lines"`
	Files          int         `json:"files"`
	Keys           []SealKey   `json:"keys"`
	Prior          []PriorSeal `json:"prior,omitempty"` // seals of the ceremonies the transcript continues
	sealed         *bundle.Seal
}

// SealKey is one key that sealed.
type SealKey struct {
	KeyID     string        `json:"key_id"`
	Algorithm string        `json:"algorithm"`
	KeyURI    string        `json:"key_uri"`
	Device    bundle.Device `json:"device"`
}

// PriorSeal is the seal of an earlier ceremony, recorded by the
// ceremony.start line (Line) of the one that continued it: it covers the
// transcript up to the line before.
type PriorSeal struct {
	Line int       `json:"line"`
	Head string    `json:"transcript_head"`
	Keys []SealKey `json:"keys"`
}

// SealedFiles are the paths the seal covers, with their SHA-256.
func (r *SealReport) SealedFiles() []bundle.SealedFile {
	if r == nil || r.sealed == nil {
		return nil
	}
	return r.sealed.Files
}

// sealFail is a seal that does not hold.
func sealFail(name, format string, a ...any) error {
	return &bundle.Error{Bundle: name, Reason: "seal: " + fmt.Sprintf(format, a...)}
}

// CheckSeal verifies the seal of a bundle or key record (files: every file
// but the manifest; entries: its transcript, whose chain is verified): each
// signature over the seal's message; that the transcript is, line by line,
// the one sealed; that every sealed file is there unchanged and none was
// added; transcript.head; and that the keys that sealed are exactly those
// the last line (ceremony.end) names. The seals of earlier ceremonies the
// transcript records (prior_seal) are verified too.
func CheckSeal(name string, files bundle.Files, entries []bundle.TranscriptEntry) (*SealReport, error) {
	rep, err := checkSealedLines(name, files)
	if err != nil {
		return nil, err
	}
	return rep, checkSealRest(name, files, entries, rep)
}

// checkSealedLines reads the seal, verifies its signatures and compares
// the transcript with the lines it seals. It runs first: an edited
// transcript is named by its first line that differs.
func checkSealedLines(name string, files bundle.Files) (*SealReport, error) {
	raw, ok := files[bundle.SealName]
	if !ok {
		return nil, &bundle.Error{Bundle: name, Reason: "altered: no seal.json: what a ceremony writes is sealed by the keys that signed in it (the seal was removed, or never made)"}
	}
	seal, err := bundle.ParseSeal(raw)
	if err != nil {
		return nil, sealFail(name, "%v", err)
	}
	keys, err := checkSealSignatures(seal, func(format string, a ...any) error { return sealFail(name, format, a...) })
	if err != nil {
		return nil, err
	}
	if err := compareLines(bundle.LineHashes(files[bundle.TranscriptName]), seal.Lines); err != nil {
		return nil, sealFail(name, "%v", err)
	}
	return &SealReport{TranscriptHead: seal.TranscriptHead, Lines: len(seal.Lines), Files: len(seal.Files), Keys: keys, sealed: seal}, nil
}

// checkSealRest checks the rest of a seal whose signatures and lines
// hold: the files, transcript.head, the keys ceremony.end names, and the
// seals of earlier ceremonies.
func checkSealRest(name string, files bundle.Files, entries []bundle.TranscriptEntry, rep *SealReport) error {
	seal, keys := rep.sealed, rep.Keys
	actual := bundle.LineHashes(files[bundle.TranscriptName])
	if err := compareFiles(files, seal.Files); err != nil {
		return sealFail(name, "%v", err)
	}
	if string(files[bundle.HeadName]) != string(bundle.HeadFile(seal.TranscriptHead)) {
		return sealFail(name, "%s does not hold the transcript's head %s", bundle.HeadName, seal.TranscriptHead)
	}
	if err := checkSealKeysNamed(entries, keys); err != nil {
		return sealFail(name, "%v", err)
	}
	for _, e := range entries {
		if e.Event != "ceremony.start" {
			continue
		}
		var ev struct {
			Prior json.RawMessage `json:"prior_seal"`
		}
		if json.Unmarshal(e.Data, &ev) != nil || len(ev.Prior) == 0 {
			continue
		}
		p, err := checkPriorSeal(e, ev.Prior, actual, entries)
		if err != nil {
			return sealFail(name, "transcript line %d: the seal of the ceremony it continues: %v", e.Seq, err)
		}
		rep.Prior = append(rep.Prior, *p)
	}
	return nil
}

// checkSealSignatures verifies every signature of a seal over its message.
func checkSealSignatures(seal *bundle.Seal, fail func(string, ...any) error) ([]SealKey, error) {
	if len(seal.Signatures) == 0 {
		return nil, fail("seal.json holds no signature")
	}
	digest := sha256.Sum256(seal.Message())
	seen := map[string]bool{}
	var keys []SealKey
	for i, sig := range seal.Signatures {
		n := i + 1
		if sig.Algorithm != bundle.SealAlgorithm {
			return nil, fail("signature %d: algorithm %q, not %s", n, sig.Algorithm, bundle.SealAlgorithm)
		}
		der, err1 := base64.StdEncoding.DecodeString(sig.PublicKey)
		sb, err2 := base64.StdEncoding.DecodeString(sig.Signature)
		if err1 != nil || err2 != nil {
			return nil, fail("signature %d: its public key or signature is not base64", n)
		}
		parsed, err := x509.ParsePKIXPublicKey(der)
		pub, ok := parsed.(*ecdsa.PublicKey)
		if err != nil || !ok {
			return nil, fail("signature %d: its public key is not an ECDSA public key", n)
		}
		id, err := KeyID(pub)
		if err != nil {
			return nil, fail("signature %d: %v", n, err)
		}
		if id != sig.KeyID {
			return nil, fail("signature %d names key %s, but its public key is key %s", n, trust.ShortID(sig.KeyID), trust.ShortID(id))
		}
		if seen[id] {
			return nil, fail("key %s signs the seal twice", trust.ShortID(id))
		}
		seen[id] = true
		if !ecdsa.VerifyASN1(pub, digest[:], sb) {
			return nil, fail("signature %d, by key %s, does not verify: seal.json was changed after it was signed", n, trust.ShortID(id))
		}
		keys = append(keys, SealKey{KeyID: id, Algorithm: sig.Algorithm, KeyURI: sig.KeyURI, Device: sig.Device})
	}
	return keys, nil
}

// compareLines compares the transcript's line hashes with those sealed,
// naming the first line that differs.
func compareLines(actual, sealed []string) error {
	for i := 0; i < len(actual) && i < len(sealed); i++ {
		if actual[i] != sealed[i] {
			return fmt.Errorf("transcript line %d is not the line that was sealed: the transcript was changed after sealing (a line edited, inserted, removed or moved from line %d on)", i+1, i+1)
		}
	}
	switch {
	case len(actual) < len(sealed):
		return fmt.Errorf("the transcript ends at line %d, but the seal covers %d lines: lines %d to %d were removed after sealing", len(actual), len(sealed), len(actual)+1, len(sealed))
	case len(actual) > len(sealed):
		return fmt.Errorf("transcript line %d was added after sealing (the seal covers %d lines)", len(sealed)+1, len(sealed))
	}
	return nil
}

// compareFiles compares the files with those sealed, naming each.
func compareFiles(files bundle.Files, sealed []bundle.SealedFile) error {
	want := map[string]string{}
	var problems []string
	for _, f := range sealed {
		if _, dup := want[f.Path]; dup {
			return fmt.Errorf("seal.json lists %s twice", f.Path)
		}
		want[f.Path] = f.SHA256
		b, ok := files[f.Path]
		switch {
		case !ok:
			problems = append(problems, f.Path+" was removed after sealing")
		case bundle.SHA256Hex(b) != f.SHA256:
			problems = append(problems, f.Path+" was changed after sealing")
		}
	}
	for p := range files {
		if _, ok := want[p]; !ok && bundle.Sealed(p) {
			problems = append(problems, p+" was added after sealing")
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	if len(problems) > 5 {
		problems = append(problems[:5], fmt.Sprintf("and %d more", len(problems)-5))
	}
	return fmt.Errorf("%s", strings.Join(problems, "; "))
}

// checkSealKeysNamed compares the keys that sealed with those the last
// line, ceremony.end, names.
func checkSealKeysNamed(entries []bundle.TranscriptEntry, keys []SealKey) error {
	last := entries[len(entries)-1]
	if last.Event != "ceremony.end" {
		return fmt.Errorf("the last transcript line (%d) is %s, not the ceremony.end a seal follows", last.Seq, last.Event)
	}
	var ev struct {
		Keys []struct {
			KeyID string `json:"key_id"`
		} `json:"seal_keys"`
	}
	if err := json.Unmarshal(last.Data, &ev); err != nil || len(ev.Keys) == 0 {
		return fmt.Errorf("transcript line %d (ceremony.end) names no key to seal it", last.Seq)
	}
	named := map[string]bool{}
	for _, k := range ev.Keys {
		named[k.KeyID] = true
	}
	have := map[string]bool{}
	for _, k := range keys {
		have[k.KeyID] = true
		if !named[k.KeyID] {
			return fmt.Errorf("the seal holds a signature by key %s, which transcript line %d (ceremony.end) does not name", trust.ShortID(k.KeyID), last.Seq)
		}
	}
	for _, k := range ev.Keys {
		if !have[k.KeyID] {
			return fmt.Errorf("transcript line %d (ceremony.end) names key %s to seal the transcript, but the seal holds no signature by it (removed)", last.Seq, trust.ShortID(k.KeyID))
		}
	}
	return nil
}

// checkPriorSeal verifies the seal a ceremony.start line carries: its
// signatures, and that it sealed this transcript up to the line before.
func checkPriorSeal(e bundle.TranscriptEntry, raw json.RawMessage, actual []string, entries []bundle.TranscriptEntry) (*PriorSeal, error) {
	seal, err := bundle.ParseSeal(raw)
	if err != nil {
		return nil, err
	}
	keys, err := checkSealSignatures(seal, func(format string, a ...any) error { return fmt.Errorf(format, a...) })
	if err != nil {
		return nil, err
	}
	if err := compareLines(actual[:e.Seq-1], seal.Lines); err != nil {
		return nil, err
	}
	if err := checkSealKeysNamed(entries[:e.Seq-1], keys); err != nil {
		return nil, err
	}
	return &PriorSeal{Line: e.Seq, Head: seal.TranscriptHead, Keys: keys}, nil
}

// CheckSealedBySigners binds the seal to the bundle: every key that sealed
// its last ceremony signed a file of the bundle (a key of its roots), and
// every root key whose signature a root.json carries sealed a ceremony of
// the transcript (this one or one it continues).
func CheckSealedBySigners(s *bundle.Signed, seal *SealReport) error {
	return checkSealedBySigners(trust.NewDecoded(), s, seal)
}

func checkSealedBySigners(d *trust.Decoded, s *bundle.Signed, seal *SealReport) error {
	signed, rootSigned, err := bundleSigners(d, s)
	if err != nil {
		return err
	}
	sealedBy := map[string]bool{}
	for _, k := range seal.Keys {
		sealedBy[k.KeyID] = true
		if len(signed[k.KeyID]) == 0 {
			return sealFail(s.Dir, "key %s sealed the transcript but signed nothing in this bundle: a seal is made by the keys that signed (the root keys of its roots)", trust.ShortID(k.KeyID))
		}
	}
	for _, p := range seal.Prior {
		for _, k := range p.Keys {
			sealedBy[k.KeyID] = true
		}
	}
	ids := make([]string, 0, len(rootSigned))
	for id := range rootSigned {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if !sealedBy[id] {
			return sealFail(s.Dir, "%s: root.json carries a signature by root key %s, which sealed no ceremony of the transcript", rootSigned[id], trust.ShortID(id))
		}
	}
	return nil
}

// bundleSigners maps the canonical ID of every key whose signature the
// bundle's metadata carries to the files it signed, and the root keys that
// signed a root.json to their GUN. The signatures were verified already.
// GUNs are read on every core and merged in the bundle's order.
func bundleSigners(d *trust.Decoded, s *bundle.Signed) (signed map[string][]string, rootSigned map[string]string, err error) {
	hits := make([][]signerHit, len(s.Info.Repos))
	if err := fsutil.Each(len(s.Info.Repos), func(i int) (err error) {
		hits[i], err = repoSigners(d, s, s.Info.Repos[i])
		return err
	}); err != nil {
		return nil, nil, err
	}
	signed, rootSigned = map[string][]string{}, map[string]string{}
	for i, r := range s.Info.Repos {
		for _, h := range hits[i] {
			signed[h.canon] = append(signed[h.canon], r.GUN+" "+h.role+".json")
			if h.rootKey {
				rootSigned[h.canon] = r.GUN
			}
		}
	}
	return signed, rootSigned, nil
}

// signerHit is one signature of a GUN's metadata by a key its roots name.
type signerHit struct {
	canon, role string
	rootKey     bool // a root key's signature on root.json
}

// repoSigners is bundleSigners for one GUN, in file and signature order.
func repoSigners(d *trust.Decoded, s *bundle.Signed, r bundle.SignedRepo) ([]signerHit, error) {
	canon := map[string]string{}
	rootKeys := map[string]bool{}
	for _, raw := range [][]byte{s.RepoMetadata(r.GUN, "root"), s.Request.Metadata(r.GUN, data.CanonicalRootRole)} {
		if raw == nil {
			continue
		}
		_, root, err := d.Root(raw)
		if err != nil {
			return nil, err
		}
		for id, k := range root.Signed.Keys {
			c, err := trust.CanonicalID(k)
			if err != nil {
				return nil, err
			}
			canon[id] = c
		}
		for _, id := range root.Signed.Roles[data.CanonicalRootRole].KeyIDs {
			rootKeys[id] = true
		}
	}
	for id, c := range delegationKeyIDs(s, r) {
		if _, ok := canon[id]; !ok {
			canon[id] = c
		}
	}
	roles := []string{"root", "targets", "snapshot"}
	for role := range delegationFiles(s, r) {
		roles = append(roles, role.String())
	}
	var hits []signerHit
	for _, role := range roles {
		raw := s.RepoMetadata(r.GUN, role)
		if raw == nil {
			continue
		}
		sd, err := d.Signed(raw)
		if err != nil {
			return nil, err
		}
		for _, sig := range sd.Signatures {
			if c, ok := canon[sig.KeyID]; ok {
				hits = append(hits, signerHit{canon: c, role: role, rootKey: role == "root" && rootKeys[sig.KeyID]})
			}
		}
	}
	return hits, nil
}

// checkRehearsal compares bundle.json's (or a record's) rehearsal flag with
// the transcript: a rehearsal is exactly a transcript in which some
// ceremony used a software token.
func checkRehearsal(name, file string, claimed bool, entries []bundle.TranscriptEntry) error {
	software, line := false, 0
	for _, e := range entries {
		if e.Event != "ceremony.start" && e.Event != "ceremony.end" {
			continue
		}
		var ev struct {
			Rehearsal bool `json:"rehearsal"`
		}
		if json.Unmarshal(e.Data, &ev) == nil && ev.Rehearsal && !software {
			software, line = true, e.Seq
		}
	}
	switch {
	case claimed && !software:
		return &bundle.Error{Bundle: name, Reason: fmt.Sprintf("altered: %s says rehearsal true, but no ceremony of the transcript used a software token", file)}
	case !claimed && software:
		return &bundle.Error{Bundle: name, Reason: fmt.Sprintf("altered: %s says rehearsal false, but transcript line %d records a software token (a rehearsal)", file, line)}
	}
	return nil
}
