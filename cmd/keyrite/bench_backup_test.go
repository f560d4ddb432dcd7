package main

import (
	"fmt"
	"path/filepath"
	"testing"

	"filippo.io/age"

	"github.com/keyrite/keyrite/internal/testenv"
)

// BenchmarkGenerateBackedUpSoftHSM is the whole backed-up generation on a
// SoftHSM token: device RNG, key, 2-of-3 shares to X25519 custodians,
// atomic write, read-back check, import and its verified signature.
func BenchmarkGenerateBackedUpSoftHSM(b *testing.B) {
	h := testenv.NewSoftHSM(b, "bench")
	dir := b.TempDir()
	var cust []string
	for _, n := range []string{"alice", "bob", "carol"} {
		id, _ := age.GenerateX25519Identity()
		cust = append(cust, "--custodian", n+"="+id.Recipient().String())
	}
	i := 0
	for b.Loop() {
		i++
		args := append([]string{"key", "generate", "--mode", "backed-up", "--device", "pkcs11:token=bench", "--label", fmt.Sprintf("root%d", i),
			"--threshold", "2", "-o", filepath.Join(dir, fmt.Sprint(i)), "--pin-file", h.PINFile, "--module", h.Module, "--json"}, cust...)
		if _, stderr, code := runKeyrite(b, args...); code != 0 {
			b.Fatalf("exit %d: %s", code, stderr)
		}
	}
}

// BenchmarkBaselineGenerateOnDeviceSoftHSM is key generate on the same
// token without a backup: the baseline for the one above.
func BenchmarkBaselineGenerateOnDeviceSoftHSM(b *testing.B) {
	h := testenv.NewSoftHSM(b, "bench")
	i := 0
	for b.Loop() {
		i++
		if _, stderr, code := runKeyrite(b, "key", "generate", "--device", "pkcs11:token=bench", "--label", fmt.Sprintf("root%d", i),
			"--pin-file", h.PINFile, "--module", h.Module, "--json"); code != 0 {
			b.Fatalf("exit %d: %s", code, stderr)
		}
	}
}
