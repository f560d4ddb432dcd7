package benchtable

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyrite/keyrite/internal/testenv"
)

// ecParamsP256 is the DER OID of P-256, CKA_EC_PARAMS.
var ecParamsP256 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

// rawDevice is a logged-in session on a SoftHSM token through miekg/pkcs11
// directly: the floor under any PKCS#11 tool.
type rawDevice struct {
	ctx  *p11.Ctx
	sess p11.SessionHandle
}

func openRaw(b *testing.B, h *testenv.SoftHSM) *rawDevice {
	ctx := p11.New(h.Module)
	if err := ctx.Initialize(); err != nil {
		b.Fatal(err)
	}
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range slots {
		if ti, err := ctx.GetTokenInfo(s); err == nil && ti.SerialNumber == h.Serial {
			sess, err := ctx.OpenSession(s, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
			if err != nil {
				b.Fatal(err)
			}
			if err := ctx.Login(sess, p11.CKU_USER, h.PIN); err != nil {
				b.Fatal(err)
			}
			return &rawDevice{ctx: ctx, sess: sess}
		}
	}
	b.Fatalf("token %s not found", h.Serial)
	return nil
}

func (d *rawDevice) close() {
	d.ctx.Logout(d.sess)
	d.ctx.CloseSession(d.sess)
	d.ctx.Finalize()
	d.ctx.Destroy()
}

// generate is C_GenerateKeyPair of a P-256 token key pair, as keyrite
// makes them (sensitive, not extractable).
func (d *rawDevice) generate(b *testing.B, label string) p11.ObjectHandle {
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
		b.Fatal(err)
	}
	return h
}

// sign is C_SignInit + C_Sign of a SHA-256 digest.
func (d *rawDevice) sign(b *testing.B, key p11.ObjectHandle, msg string) {
	digest := sha256.Sum256([]byte(msg))
	if err := d.ctx.SignInit(d.sess, []*p11.Mechanism{p11.NewMechanism(p11.CKM_ECDSA, nil)}, key); err != nil {
		b.Fatal(err)
	}
	if _, err := d.ctx.Sign(d.sess, digest[:]); err != nil {
		b.Fatal(err)
	}
}

// rawInit is the device work of an init of n GUNs, on a new token: per
// GUN, with perGUN, C_GenerateKeyPair of its targets key and the new
// key's self-test C_Sign; then the root certificate, root.json and
// targets.json signatures; and the seal's one signature. The root key
// (and the shared targets key) exist before, as they do for init.
func rawInit(b *testing.B, h *testenv.SoftHSM, n int, perGUN bool) (time.Duration, int) {
	d := openRaw(b, h)
	defer d.close()
	root := d.generate(b, "root")
	targets := root
	if !perGUN {
		targets = d.generate(b, "targets")
	}
	sigs := 0
	start := time.Now()
	for i := range n {
		gun := fmt.Sprintf("registry.example.com/bench/app%04d", i)
		t := targets
		if perGUN {
			t = d.generate(b, "targets:"+gun)
			d.sign(b, t, "self-test "+gun)
			sigs++
		}
		d.sign(b, root, "certificate "+gun)
		d.sign(b, root, "root.json "+gun)
		d.sign(b, t, "targets.json "+gun)
		sigs += 3
	}
	d.sign(b, root, "seal")
	return time.Since(start), sigs + 1
}

// ecdsaVerifies is the time of n bare P-256 verifications (Go's
// crypto/ecdsa, over SHA-256 digests), on one core and on all of them.
func ecdsaVerifies(n int) (one, all time.Duration) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digests := make([][32]byte, n)
	sigs := make([][]byte, n)
	for i := range n {
		digests[i] = sha256.Sum256(fmt.Appendf(nil, "metadata %d", i))
		sigs[i], _ = ecdsa.SignASN1(rand.Reader, k, digests[i][:])
	}
	verify := func(i int) {
		if !ecdsa.VerifyASN1(&k.PublicKey, digests[i][:], sigs[i]) {
			panic("bare ECDSA verification failed")
		}
	}
	start := time.Now()
	for i := range n {
		verify(i)
	}
	one = time.Since(start)
	start = time.Now()
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				verify(i)
			}
		}()
	}
	wg.Wait()
	return one, time.Since(start)
}
