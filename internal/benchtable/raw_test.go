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

	"github.com/keyrite/keyrite/internal/testenv"
	"github.com/keyrite/keyrite/internal/testenv/rawpkcs11"
)

// rawInit is the device work of an init of n GUNs, on a new token: per
// GUN, with perGUN, C_GenerateKeyPair of its targets key and the new
// key's self-test C_Sign; then the root certificate, root.json and
// targets.json signatures; and the seal's one signature. The root key
// (and the shared targets key) exist before, as they do for init.
func rawInit(b *testing.B, h *testenv.SoftHSM, n int, perGUN bool) (time.Duration, int) {
	d := rawpkcs11.Open(b, h)
	defer d.Close()
	root := d.Generate("root")
	targets := root
	if !perGUN {
		targets = d.Generate("targets")
	}
	sigs := 0
	start := time.Now()
	for i := range n {
		gun := fmt.Sprintf("registry.example.com/bench/app%04d", i)
		t := targets
		if perGUN {
			t = d.Generate("targets:" + gun)
			d.Sign(t, "self-test "+gun)
			sigs++
		}
		d.Sign(root, "certificate "+gun)
		d.Sign(root, "root.json "+gun)
		d.Sign(t, "targets.json "+gun)
		sigs += 3
	}
	d.Sign(root, "seal")
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
