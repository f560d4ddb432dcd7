package session

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/trust"
)

// sealState is what a session knows of its seal: the keys that will make
// it, and the device each key was opened on.
type sealState struct {
	keys      []sealKey
	keyDevice map[string]string // key URI -> device key (DeviceKey)
	lastEvent string            // the transcript's last event
}

type sealKey struct {
	key hsm.Key
	id  string // canonical key ID
}

// NoSealKeysError is a session asked to seal what it writes with no key
// named to seal it.
type NoSealKeysError struct{ Command string }

func (e *NoSealKeysError) Error() string {
	return fmt.Sprintf("%s: no key was named to seal the transcript (Session.SealBy before End)", e.Command)
}

// SealBy names the keys that seal what this session writes: every root key
// that signed in it (and the other keys that signed, where the ceremony
// signs with them). Call it before End: the ceremony.end line names them
// (seal_keys), so that a seal missing one of them is refused. Each key is
// a device key (hsm.Key); one public key given twice counts once.
func (s *Session) SealBy(keys ...crypto.Signer) error {
	for _, k := range keys {
		hk, ok := k.(hsm.Key)
		if !ok {
			return fmt.Errorf("a seal is made by a device key, not a %T", k)
		}
		pub, err := trust.PublicKey(k.Public())
		if err != nil {
			return err
		}
		dup := false
		for _, have := range s.seal.keys {
			dup = dup || have.id == pub.ID()
		}
		if !dup {
			s.seal.keys = append(s.seal.keys, sealKey{key: hk, id: pub.ID()})
		}
	}
	return nil
}

// sealKeysEvent is what ceremony.end records of the keys that seal.
func (s *Session) sealKeysEvent() []map[string]string {
	var out []map[string]string
	for _, k := range s.seal.keys {
		out = append(out, map[string]string{"key_id": k.id, "key_uri": hsm.Redact(k.key.URI())})
	}
	return out
}

// Seal seals files (every file of what is written but the manifest,
// holding this session's transcript, ended): it adds transcript.head and
// seal.json, signed by every key SealBy named, each signature made through
// the key's device and verified in software right after. The plan runner
// and every ceremony that writes a signed bundle (WriteSigned) call it.
func (s *Session) Seal(ctx context.Context, files bundle.Files) error {
	if len(s.seal.keys) == 0 {
		return &NoSealKeysError{Command: s.command}
	}
	if s.t == nil || string(files[bundle.TranscriptName]) != string(s.t.Bytes()) {
		return errors.New("seal: the files do not hold this session's transcript")
	}
	if s.seal.lastEvent != "ceremony.end" {
		return errors.New("seal: the transcript has not ended (Session.End before Seal)")
	}
	// The keys the outputs name are stored before any output is.
	if err := s.saveBatches(); err != nil {
		return err
	}
	files[bundle.HeadName] = bundle.HeadFile(s.t.Head())
	seal, err := bundle.NewSeal(files)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(seal.Message())
	for _, k := range s.seal.keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		sig, err := k.key.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return WrapDevice(k.key.URI(), fmt.Errorf("sealing the transcript: %w", err))
		}
		if err := hsm.VerifyDigest(k.key.Public(), digest[:], sig); err != nil {
			return WrapDevice(k.key.URI(), fmt.Errorf("sealing the transcript: %w", err))
		}
		der, err := x509.MarshalPKIXPublicKey(k.key.Public())
		if err != nil {
			return err
		}
		seal.Signatures = append(seal.Signatures, bundle.SealSignature{KeyID: k.id, Algorithm: bundle.SealAlgorithm,
			PublicKey: base64.StdEncoding.EncodeToString(der), Signature: base64.StdEncoding.EncodeToString(sig),
			KeyURI: hsm.Redact(k.key.URI()), Device: s.deviceOf(k.key)})
	}
	b, err := seal.Marshal()
	if err != nil {
		return err
	}
	files[bundle.SealName] = b
	return nil
}

// deviceOf is the device a key was opened on, as the transcript records
// devices.
func (s *Session) deviceOf(k hsm.Key) bundle.Device {
	if fk, ok := k.(FileKey); ok {
		return bundle.Device{URI: fk.URI(), Kind: "file"}
	}
	dk, ok := s.seal.keyDevice[k.URI()]
	if !ok {
		dk, _ = DeviceKey(k.URI())
	}
	b, ok := s.open[dk]
	if !ok && len(s.order) == 1 {
		b, ok = s.open[s.order[0]]
	}
	if !ok {
		return bundle.Device{URI: dk}
	}
	info := b.Info()
	return bundle.Device{URI: info.URI, Kind: info.Kind, Label: info.Label, Serial: info.Serial,
		Model: info.Model, Firmware: info.Firmware, Software: info.Software}
}

// Continue begins the transcript of a ceremony that extends the bundle in
// (sign): its transcript continues, and the ceremony.start line records the
// bundle's seal (prior_seal) and its witnesses' signatures
// (prior_witnesses), which cover the transcript up to the line before.
func (s *Session) Continue(in *bundle.Signed, fields map[string]any) error {
	ev := map[string]any{}
	for k, v := range fields {
		ev[k] = v
	}
	if b, ok := in.Files[bundle.SealName]; ok {
		ev["prior_seal"] = json.RawMessage(b)
	}
	w := map[string]string{}
	for p, b := range in.Files {
		if name, ok := bundle.WitnessName(p); ok {
			w[name] = string(b)
		}
	}
	if len(w) > 0 {
		ev["prior_witnesses"] = w
	}
	return s.Begin(in.Files[bundle.TranscriptName], ev)
}

// opened remembers the device a key was opened on.
func (st *sealState) opened(keyURI, uri string) {
	dk, err := DeviceKey(uri)
	if err != nil {
		return
	}
	if st.keyDevice == nil {
		st.keyDevice = map[string]string{}
	}
	st.keyDevice[keyURI] = dk
}

// endFields adds the keys that seal to ceremony.end's fields.
// and whether a software token took part (one may have been opened after
// the ceremony.start line).
func (s *Session) endFields(fields map[string]any) map[string]any {
	ev := map[string]any{}
	for k, v := range fields {
		ev[k] = v
	}
	ev["rehearsal"] = s.software
	if len(s.seal.keys) > 0 {
		ev["seal_keys"] = s.sealKeysEvent()
	}
	return ev
}
