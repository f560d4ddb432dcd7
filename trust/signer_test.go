package trust

import (
	"crypto"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
)

// handle is a device key as a backend hands it out: a pointer, so two
// openings of the same key are two signers.
type handle struct{ checkedSigner }

// A signer added once per repository keeps its entry (what it signed still
// counts), and another signer of the same key added later takes the entry
// over, also when the first is added again afterwards: the key service
// signs with the signer added last, as before it remembered signers.
func TestKeyServiceEntries(t *testing.T) {
	k := newKey(t)
	first, second := &handle{checkedSigner{k}}, &handle{checkedSigner{k}}
	ks := NewKeyService()
	p1, err := ks.Add(first, data.CanonicalRootRole)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ks.Certify(first, "example.com/a", time.Now(), time.Now().Add(time.Hour), rand.Reader); err != nil {
		t.Fatal(err)
	}
	p2, err := ks.Add(first, data.CanonicalRootRole)
	if err != nil || p2.ID() != p1.ID() {
		t.Fatalf("added again: %v, %v", p2, err)
	}
	if used := ks.Used(); len(used) != 1 || used[0] != crypto.Signer(first) {
		t.Fatalf("used after the same signer was added again: %v", used)
	}
	for _, s := range []*handle{second, first, second} {
		if _, err := ks.Add(s, data.CanonicalRootRole); err != nil {
			t.Fatal(err)
		}
		if used := ks.Used(); len(used) != 0 {
			t.Fatalf("a new signer's entry counts the old one's signatures: %v", used)
		}
		if _, _, err := ks.Certify(s, "example.com/a", time.Now(), time.Now().Add(time.Hour), rand.Reader); err != nil {
			t.Fatal(err)
		}
		if used := ks.Used(); len(used) != 1 || used[0] != crypto.Signer(s) {
			t.Fatalf("used: %v, want the signer added last", used)
		}
	}
}

// Repositories of a batch add the same keys on several goroutines (run
// with -race).
func TestKeyServiceConcurrentAdd(t *testing.T) {
	s := &handle{checkedSigner{newKey(t)}}
	ks := NewKeyService()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := ks.Add(s, data.CanonicalTargetsRole); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if len(ks.order) != 1 {
		t.Fatalf("%d entries for one key", len(ks.order))
	}
}
