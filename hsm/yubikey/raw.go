package yubikey

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/bertlv"
)

// piv-go (v2.6.0) has no call for writing a data object of any ID (ykman's
// admin data, CHUID, CCC, an empty object to delete a certificate) nor for
// MOVE KEY (firmware 5.7). keyrite sends those few APDUs itself, over a
// PC/SC connection of its own (pcsc_linux.go). piv-go holds its connection
// exclusively, so withRawLocked closes it for the time of the raw one and
// opens it again after, checking the serial both times.

type rawTransport interface {
	transmit(apdu []byte) ([]byte, error)
	close() error
}

// statusError is a status word other than 9000 from the card.
type statusError uint16

func (e statusError) Error() string  { return fmt.Sprintf("smart card error %04x", uint16(e)) }
func (e statusError) Status() uint16 { return uint16(e) }

// Status words keyrite tells apart.
const (
	swNotFound       = 0x6a82
	swRefNotFound    = 0x6a88
	swInsUnsupported = 0x6d00
)

// rawCard speaks to the PIV application over a rawTransport.
type rawCard struct {
	t       rawTransport
	version piv.Version
}

// send transmits one command (chained when its data exceeds 255 bytes)
// and collects a chained response (61xx).
func (r *rawCard) send(ins, p1, p2 byte, data []byte) ([]byte, error) {
	for len(data) > 255 {
		if _, err := r.one(append([]byte{0x10, ins, p1, p2, 255}, data[:255]...)); err != nil {
			return nil, err
		}
		data = data[255:]
	}
	apdu := []byte{0x00, ins, p1, p2}
	if len(data) > 0 {
		apdu = append(append(apdu, byte(len(data))), data...)
	}
	return r.one(apdu)
}

func (r *rawCard) one(apdu []byte) ([]byte, error) {
	var out []byte
	for {
		resp, err := r.t.transmit(apdu)
		if err != nil {
			return nil, err
		}
		if len(resp) < 2 {
			return nil, fmt.Errorf("scard response too short: %d", len(resp))
		}
		sw1, sw2 := resp[len(resp)-2], resp[len(resp)-1]
		out = append(out, resp[:len(resp)-2]...)
		switch {
		case sw1 == 0x90 && sw2 == 0x00:
			return out, nil
		case sw1 == 0x61:
			apdu = []byte{0x00, 0xc0, 0x00, 0x00, sw2} // GET RESPONSE
		default:
			return nil, statusError(uint16(sw1)<<8 | uint16(sw2))
		}
	}
}

var aidPIV = []byte{0xa0, 0x00, 0x00, 0x03, 0x08}

// tlv encodes a BER-TLV.
func tlv(tag uint32, value []byte) []byte { return bertlv.Encode(tag, value) }

// untlv reads the value of the one TLV b must be, with tag tag.
func untlv(tag uint32, b []byte) ([]byte, error) {
	ts, err := bertlv.Parse(b)
	if err != nil || len(ts) != 1 || ts[0].Tag != tag {
		return nil, fmt.Errorf("expected one TLV with tag %02x in the card's answer", tag)
	}
	return ts[0].Value, nil
}

func objectTag(id uint32) []byte {
	return tlv(0x5c, []byte{byte(id >> 16), byte(id >> 8), byte(id)})
}

// getObject reads a data object; found is false when the card has none.
func (r *rawCard) getObject(id uint32) (v []byte, found bool, err error) {
	resp, err := r.send(0xcb, 0x3f, 0xff, objectTag(id))
	var se statusError
	if errors.As(err, &se) && se == swNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v, err = untlv(0x53, resp)
	return v, err == nil, err
}

// putObject writes a data object; an empty value deletes it.
func (r *rawCard) putObject(id uint32, v []byte) error {
	_, err := r.send(0xdb, 0x3f, 0xff, append(objectTag(id), tlv(0x53, v)...))
	return err
}

// authenticate proves the management key (mutual authentication, SP
// 800-73-4), of the type the card reports (AES on 5.4 and later, 3DES
// before 5.3, where the card cannot say).
func (r *rawCard) authenticate(key []byte) error {
	alg := byte(0x03)
	if r.version.Major > 5 || r.version.Major == 5 && r.version.Minor >= 3 {
		md, err := r.send(0xf7, 0x00, 0x9b, nil)
		if err != nil {
			return fmt.Errorf("read the management key's type: %w", err)
		}
		if len(md) >= 3 && md[0] == 0x01 {
			alg = md[2]
		}
	}
	var block cipher.Block
	var err error
	if alg == 0x03 {
		block, err = des.NewTripleDESCipher(key)
	} else {
		block, err = aes.NewCipher(key)
	}
	if err != nil {
		return fmt.Errorf("management key: %w", err)
	}
	bs := block.BlockSize()
	resp, err := r.send(0x87, alg, 0x9b, tlv(0x7c, tlv(0x80, nil)))
	if err != nil {
		return fmt.Errorf("management key authentication: %w", err)
	}
	dyn, err := untlv(0x7c, resp)
	if err != nil {
		return err
	}
	witness, err := untlv(0x80, dyn)
	if err != nil || len(witness) != bs {
		return errors.New("management key authentication: bad witness")
	}
	plain := make([]byte, bs)
	block.Decrypt(plain, witness)
	challenge := make([]byte, bs)
	if _, err := rand.Read(challenge); err != nil {
		return err
	}
	resp, err = r.send(0x87, alg, 0x9b, tlv(0x7c, append(tlv(0x80, plain), tlv(0x81, challenge)...)))
	if err != nil {
		return fmt.Errorf("management key authentication: %w", err)
	}
	if dyn, err = untlv(0x7c, resp); err != nil {
		return err
	}
	got, err := untlv(0x82, dyn)
	want := make([]byte, bs)
	block.Encrypt(want, challenge)
	if err != nil || subtle.ConstantTimeCompare(got, want) != 1 {
		return errors.New("management key authentication: the card's answer is wrong")
	}
	return nil
}

// supportsMove says whether the firmware has MOVE KEY, and with it DELETE
// (a move to FF): YubiKey 5.7.0 and later.
func supportsMove(v piv.Version) bool {
	return v.Major > 5 || v.Major == 5 && v.Minor >= 7
}

// deleteKey destroys the key in a slot (MOVE KEY to FF).
func (r *rawCard) deleteKey(slot piv.Slot) error {
	_, err := r.send(0xf6, 0xff, byte(slot.Key), nil)
	return err
}

// withRawLocked runs fn over keyrite's own connection to the device, with
// piv-go's connection closed meanwhile and opened again after. The device
// lock must be held; the piv-go connection callers held before is gone:
// they use b.dev.c.yk again.
func (b *Backend) withRawLocked(fn func(r *rawCard) error) error {
	c := b.dev.c
	if c.yk != nil {
		c.yk.Close()
		c.yk = nil
	}
	err := func() error {
		t, err := openPCSC(c.reader)
		if err != nil {
			return err
		}
		defer t.close()
		r := &rawCard{t: t, version: c.version}
		if _, err := r.send(0xa4, 0x04, 0x00, aidPIV); err != nil {
			return fmt.Errorf("select the PIV application: %w", err)
		}
		s, err := r.send(0xf8, 0, 0, nil)
		if err != nil || len(s) != 4 || binary.BigEndian.Uint32(s) != c.serial {
			return fmt.Errorf("the card in %s is no longer %s", c.reader, b.dev.name())
		}
		return fn(r)
	}()
	yk, oerr := piv.Open(c.reader)
	if oerr == nil {
		if s, serr := yk.Serial(); serr != nil || s != c.serial {
			yk.Close()
			oerr = fmt.Errorf("the card in %s is no longer %s", c.reader, b.dev.name())
		}
	}
	if oerr != nil {
		b.dev.gone = fmt.Errorf("%s: reopen: %v: %w", b.dev.name(), oerr, &hsm.DeviceAbsentError{Device: b.dev.name() + " (removed while keyrite was using it)"})
		if err == nil {
			err = b.dev.gone
		}
		return err
	}
	c.yk = yk
	return err
}
