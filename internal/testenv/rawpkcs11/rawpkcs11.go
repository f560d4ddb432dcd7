// Package rawpkcs11 is the floor under any PKCS#11 tool, for benchmarks'
// baselines: a logged-in session on a SoftHSM token through miekg/pkcs11
// directly, making key pairs as keyrite makes them and signing digests,
// and nothing else.
package rawpkcs11

import (
	"crypto/rand"
	"crypto/sha256"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyrite/keyrite/internal/testenv"
)

// ecParamsP256 is the DER OID of P-256, CKA_EC_PARAMS.
var ecParamsP256 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

// Device is an open, logged-in session.
type Device struct {
	tb   testing.TB
	ctx  *p11.Ctx
	sess p11.SessionHandle
}

// Open loads the token's module afresh and logs in.
func Open(tb testing.TB, h *testenv.SoftHSM) *Device {
	ctx := p11.New(h.Module)
	if err := ctx.Initialize(); err != nil {
		tb.Fatal(err)
	}
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		tb.Fatal(err)
	}
	for _, s := range slots {
		if ti, err := ctx.GetTokenInfo(s); err == nil && ti.SerialNumber == h.Serial {
			sess, err := ctx.OpenSession(s, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
			if err != nil {
				tb.Fatal(err)
			}
			if err := ctx.Login(sess, p11.CKU_USER, h.PIN); err != nil {
				tb.Fatal(err)
			}
			return &Device{tb: tb, ctx: ctx, sess: sess}
		}
	}
	tb.Fatalf("token %s not found", h.Serial)
	return nil
}

// Close logs out and unloads the module.
func (d *Device) Close() {
	d.ctx.Logout(d.sess)
	d.ctx.CloseSession(d.sess)
	d.ctx.Finalize()
	d.ctx.Destroy()
}

// Generate is C_GenerateKeyPair of a P-256 token key pair with keyrite's
// policy (sensitive, not extractable); it returns the private key.
func (d *Device) Generate(label string) p11.ObjectHandle {
	id := make([]byte, 16)
	rand.Read(id)
	pub := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY), p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_EC),
		p11.NewAttribute(p11.CKA_TOKEN, true), p11.NewAttribute(p11.CKA_VERIFY, true),
		p11.NewAttribute(p11.CKA_LABEL, label), p11.NewAttribute(p11.CKA_ID, id), p11.NewAttribute(p11.CKA_EC_PARAMS, ecParamsP256)}
	priv := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY), p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_EC),
		p11.NewAttribute(p11.CKA_TOKEN, true), p11.NewAttribute(p11.CKA_PRIVATE, true), p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false), p11.NewAttribute(p11.CKA_SIGN, true),
		p11.NewAttribute(p11.CKA_LABEL, label), p11.NewAttribute(p11.CKA_ID, id)}
	_, h, err := d.ctx.GenerateKeyPair(d.sess, []*p11.Mechanism{p11.NewMechanism(p11.CKM_EC_KEY_PAIR_GEN, nil)}, pub, priv)
	if err != nil {
		d.tb.Fatal(err)
	}
	return h
}

// Sign is C_SignInit + C_Sign (CKM_ECDSA) of the SHA-256 of msg.
func (d *Device) Sign(key p11.ObjectHandle, msg string) {
	digest := sha256.Sum256([]byte(msg))
	if err := d.ctx.SignInit(d.sess, []*p11.Mechanism{p11.NewMechanism(p11.CKM_ECDSA, nil)}, key); err != nil {
		d.tb.Fatal(err)
	}
	if _, err := d.ctx.Sign(d.sess, digest[:]); err != nil {
		d.tb.Fatal(err)
	}
}
