// Package pivsim is a virtual YubiKey 5 (PIV applet) for tests. It speaks
// vsmartcard's vpcd protocol, so that the real pcscd, libpcsclite and
// piv-go sit between keyrite and the simulated card: only the card itself is
// simulated.
//
// It implements what piv-go v2, yubico-piv-tool and ykman use: SELECT,
// version, serial, the management applet's device info (form factor),
// PIN/PUK verify, change and unblock with retry counters and blocking,
// reset, set retries, management-key mutual authentication (3DES and AES),
// set management key, key generation and import (EC P-256/P-384, RSA,
// Ed25519, X25519), signing, decryption and ECDH with PIN and touch
// policies enforced, metadata (F7), attestation (F9) under a test CA, get
// and put data including PIN-protected metadata, MOVE and DELETE KEY (F6,
// firmware 5.7), command chaining and 61xx response chaining.
package pivsim

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Config describes a virtual YubiKey.
type Config struct {
	Serial     uint32
	Version    [3]byte // default 5.7.1
	FormFactor byte    // default 0x01 (USB-A keychain)
	// CA issues the device attestation certificate. Required for a new
	// card; a card loaded from StatePath keeps its certificate.
	CA *CA
	// StatePath keeps the card's state in a file, rewritten after every
	// change, so that a card can be unplugged and plugged in again or
	// survive a restart of the simulator.
	StatePath string
	// DefaultMgmtAlg is the factory management key algorithm: AES-192 on
	// firmware 5.7 (the default), 3DES before.
	DefaultMgmtAlg byte
	// TouchDelay is how long a simulated touch takes (0: immediately).
	TouchDelay time.Duration
	// AttestImported makes the card misbehave by attesting imported keys,
	// which a real YubiKey refuses; keyrite must catch it from the slot's
	// metadata.
	AttestImported bool
}

// Card is one virtual YubiKey. It is safe for concurrent use, although a
// card is only ever plugged into one reader at a time.
type Card struct {
	mu  sync.Mutex
	cfg Config
	st  *state

	// volatile state, reset on power on, reset and applet selection
	applet      int
	pinOK       bool // PIN verified this session
	pinFresh    bool // PIN verified and not yet used by a PIN-always key
	mgmtOK      bool
	witness     []byte // management key challenge in progress
	witnessAlg  byte
	chainINS    byte
	chainData   []byte
	pending     []byte // response bytes not yet fetched with GET RESPONSE
	touchCached time.Time

	onSign  func(n int)
	touches int
	moves   int
	// counters.go: what tests assert bounds on
	pinVerifies, wrongPINs, writes, sigBase int
}

// OnSign sets a function called (without the card lock) after each
// private-key operation with the running count; tests use it to pull the
// card out in the middle of a batch.
func (c *Card) OnSign(f func(n int)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onSign = f
}

// Touches counts the simulated touches.
func (c *Card) Touches() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.touches
}

const (
	appletNone = iota
	appletPIV
	appletMgmt
)

// New creates a card, or loads it from cfg.StatePath when that file exists.
func New(cfg Config) (*Card, error) {
	if cfg.Version == [3]byte{} {
		cfg.Version = [3]byte{5, 7, 1}
	}
	if cfg.FormFactor == 0 {
		cfg.FormFactor = 0x01
	}
	if cfg.DefaultMgmtAlg == 0 {
		cfg.DefaultMgmtAlg = AlgAES192
		if cfg.Version[0] < 5 || (cfg.Version[0] == 5 && cfg.Version[1] < 7) {
			cfg.DefaultMgmtAlg = Alg3DES
		}
	}
	c := &Card{cfg: cfg}
	if cfg.StatePath != "" {
		st, err := loadState(cfg.StatePath)
		switch {
		case err == nil:
			c.st = st
			return c, nil
		case !errors.Is(err, os.ErrNotExist):
			return nil, err
		}
	}
	if cfg.CA == nil {
		return nil, errors.New("pivsim: a new card needs an attestation CA")
	}
	if cfg.Serial == 0 {
		return nil, errors.New("pivsim: a new card needs a serial number")
	}
	st := &state{Serial: cfg.Serial, Version: cfg.Version, FormFactor: cfg.FormFactor, DefaultAlg: cfg.DefaultMgmtAlg}
	st.factoryReset()
	key, cert, err := cfg.CA.issueDevice(cfg.Serial)
	if err != nil {
		return nil, err
	}
	st.AttestKey, st.AttestCert = key, cert
	st.Objects[objName(objAttestation)] = certObject(cert)
	c.st = st
	if err := st.save(cfg.StatePath); err != nil {
		return nil, err
	}
	return c, nil
}

// Serial returns the card's serial number.
func (c *Card) Serial() uint32 { return c.st.Serial }

// Signatures returns how many private-key operations the card has done.
func (c *Card) Signatures() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Signatures
}

// ATR of a YubiKey 5 NFC over USB (T=1).
var ATR = []byte{0x3b, 0xfd, 0x13, 0x00, 0x00, 0x81, 0x31, 0xfe, 0x15, 0x80, 0x73, 0xc0, 0x21, 0xc0, 0x57, 0x59, 0x75, 0x62, 0x69, 0x4b, 0x65, 0x79, 0x40}

// PowerCycle clears the volatile state, as power off, power on and reset do.
func (c *Card) PowerCycle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetVolatileLocked()
	c.applet = appletNone
}

func (c *Card) resetVolatileLocked() {
	c.pinOK, c.pinFresh, c.mgmtOK = false, false, false
	c.witness = nil
	c.chainData, c.chainINS = nil, 0
	c.pending = nil
}

// Status words.
const (
	swOK               = 0x9000
	swWrongLength      = 0x6700
	swSecurity         = 0x6982
	swBlocked          = 0x6983
	swConditions       = 0x6985
	swIncorrectData    = 0x6a80
	swNotFound         = 0x6a82
	swWrongP1P2        = 0x6a86
	swRefNotFound      = 0x6a88
	swInsNotSupported  = 0x6d00
	swClassUnsupported = 0x6e00
)

type apduError uint16

func (e apduError) Error() string { return fmt.Sprintf("SW %04X", uint16(e)) }

// Transmit processes one command APDU and returns response data followed by
// SW1 SW2.
func (c *Card) Transmit(apdu []byte) []byte {
	c.mu.Lock()
	resp, signed := c.transmitLocked(apdu)
	hook := c.onSign
	n := c.st.Signatures
	c.mu.Unlock()
	if signed && hook != nil {
		hook(n)
	}
	return resp
}

func sw(code uint16) []byte { return []byte{byte(code >> 8), byte(code)} }

func (c *Card) transmitLocked(apdu []byte) (resp []byte, signed bool) {
	if len(apdu) < 4 {
		return sw(swWrongLength), false
	}
	cla, ins, p1, p2 := apdu[0], apdu[1], apdu[2], apdu[3]
	data, ok := commandData(apdu)
	if !ok {
		return sw(swWrongLength), false
	}
	if ins == 0xc0 { // GET RESPONSE
		return c.nextChunkLocked(), false
	}
	c.pending = nil
	if cla&0x10 != 0 { // command chaining
		if c.chainINS != 0 && c.chainINS != ins {
			c.chainData = nil
		}
		c.chainINS = ins
		c.chainData = append(c.chainData, data...)
		return sw(swOK), false
	}
	if c.chainINS != 0 {
		if c.chainINS == ins {
			data = append(c.chainData, data...)
		}
		c.chainData, c.chainINS = nil, 0
	}
	if cla&0xfc != 0 {
		return sw(swClassUnsupported), false
	}
	before := c.st.Signatures
	c.countLocked(ins, p1, data)
	out, err := c.dispatchLocked(ins, p1, p2, data)
	signed = c.st.Signatures != before
	if err != nil {
		var ae apduError
		if errors.As(err, &ae) {
			return sw(uint16(ae)), signed
		}
		return sw(0x6f00), signed
	}
	c.pending = out
	return c.nextChunkLocked(), signed
}

// commandData extracts the data field of a short or extended APDU.
func commandData(a []byte) ([]byte, bool) {
	switch {
	case len(a) <= 5:
		return nil, true // no data (an Le byte, or nothing)
	case a[4] != 0:
		n := int(a[4])
		if len(a) < 5+n {
			return nil, false
		}
		return a[5 : 5+n], true
	case len(a) == 7:
		return nil, true // extended Le only
	default:
		n := int(binary.BigEndian.Uint16(a[5:7]))
		if len(a) < 7+n {
			return nil, false
		}
		return a[7 : 7+n], true
	}
}

// nextChunkLocked returns up to 256 pending bytes and 9000, or 61xx when
// more remain.
func (c *Card) nextChunkLocked() []byte {
	if len(c.pending) <= 256 {
		out := append(c.pending[:len(c.pending):len(c.pending)], 0x90, 0x00)
		c.pending = nil
		return out
	}
	chunk := append([]byte(nil), c.pending[:256]...)
	c.pending = c.pending[256:]
	left := len(c.pending)
	if left > 255 {
		left = 0
	}
	return append(chunk, 0x61, byte(left))
}

func (c *Card) save() error { return c.st.save(c.cfg.StatePath) }

func (c *Card) dispatchLocked(ins, p1, p2 byte, data []byte) ([]byte, error) {
	if ins == 0xa4 {
		return c.selectLocked(p1, data)
	}
	switch c.applet {
	case appletMgmt:
		if ins == 0x1d {
			return c.deviceInfoLocked(), nil
		}
		return nil, apduError(swInsNotSupported)
	case appletPIV:
	default:
		return nil, apduError(swInsNotSupported)
	}
	switch ins {
	case 0xfd:
		return c.st.Version[:], nil
	case 0xf8:
		return binary.BigEndian.AppendUint32(nil, c.st.Serial), nil
	case 0x20:
		return nil, c.verifyLocked(p1, p2, data)
	case 0x24:
		return nil, c.changeReferenceLocked(p2, data)
	case 0x2c:
		return nil, c.unblockLocked(p2, data)
	case 0xfa:
		return nil, c.setRetriesLocked(p1, p2)
	case 0xfb:
		return nil, c.resetLocked()
	case 0x87:
		return c.authenticateLocked(p1, p2, data)
	case 0xff:
		return nil, c.setManagementKeyLocked(p1, p2, data)
	case 0x47:
		return c.generateLocked(p2, data)
	case 0xfe:
		return nil, c.importLocked(p1, p2, data)
	case 0xf7:
		return c.metadataLocked(p2)
	case 0xf9:
		return c.attestCmdLocked(p1)
	case 0xcb:
		return c.getDataLocked(p1, p2, data)
	case 0xdb:
		return nil, c.putDataLocked(p1, p2, data)
	case insMoveKey:
		return nil, c.moveKeyLocked(p1, p2)
	}
	return nil, apduError(swInsNotSupported)
}

var (
	aidPIV  = []byte{0xa0, 0x00, 0x00, 0x03, 0x08}
	aidMgmt = []byte{0xa0, 0x00, 0x00, 0x05, 0x27, 0x47, 0x11, 0x17}
)

func (c *Card) selectLocked(p1 byte, aid []byte) ([]byte, error) {
	if p1 != 0x04 {
		return nil, apduError(swWrongP1P2)
	}
	// Selecting an application ends the PIV security state, as on a
	// YubiKey.
	c.resetVolatileLocked()
	switch {
	case len(aid) >= len(aidPIV) && bytes.HasPrefix(aid, aidPIV):
		c.applet = appletPIV
		// Application property template: the PIV application's AID and
		// the coexistent tag allocation authority.
		return enc(0x61, cat(enc(0x4f, []byte{0x00, 0x00, 0x10, 0x00, 0x01, 0x00}),
			enc(0x79, enc(0x4f, aidPIV)))), nil
	case bytes.Equal(aid, aidMgmt):
		c.applet = appletMgmt
		v := c.st.Version
		return []byte(fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])), nil
	}
	c.applet = appletNone
	return nil, apduError(swNotFound)
}

// deviceInfoLocked answers the management applet's READ CONFIG.
func (c *Card) deviceInfoLocked() []byte {
	caps := []byte{0x02, 0x3b} // OTP, U2F, OpenPGP, PIV, OATH, FIDO2
	info := cat(
		enc(0x01, caps),
		enc(0x02, binary.BigEndian.AppendUint32(nil, c.st.Serial)),
		enc(0x03, caps),
		enc(0x04, []byte{c.st.FormFactor}),
		enc(0x05, c.st.Version[:]),
		enc(0x0a, []byte{0x00}),
		enc(0x0d, caps),
		enc(0x0e, caps),
	)
	return append([]byte{byte(len(info))}, info...)
}

// touchLocked simulates the operator touching the key.
func (c *Card) touchLocked(policy byte) {
	if policy == TouchNever || policy == 0 {
		return
	}
	if policy == TouchCached && time.Since(c.touchCached) < TouchCacheWindow {
		return
	}
	if c.cfg.TouchDelay > 0 {
		c.mu.Unlock()
		time.Sleep(c.cfg.TouchDelay)
		c.mu.Lock()
	}
	c.touches++
	c.touchCached = time.Now()
}

func random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}
