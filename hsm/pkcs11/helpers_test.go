package pkcs11

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"sync"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/testenv"
)

// pinCounter is a PIN source that counts how often it is asked.
type pinCounter struct {
	mu   sync.Mutex
	pin  string
	n    int
	reqs []hsm.PINRequest
}

func (p *pinCounter) PIN(_ context.Context, req hsm.PINRequest) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	p.reqs = append(p.reqs, req)
	return []byte(p.pin), nil
}

func (p *pinCounter) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// fixture is one SoftHSM token, a driver and a backend opened on it.
type fixture struct {
	hsm  *testenv.SoftHSM
	d    *Driver
	b    *Backend
	pins *pinCounter
}

// newFixture makes a fresh token and opens it. The driver is created after
// NewSoftHSM (SoftHSM reads its configuration at C_Initialize) and closed at
// the end of the test so the next test's SoftHSM starts clean.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := testenv.NewSoftHSM(t, "keyrite-test")
	d := NewDriver()
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("driver close: %v", err)
		}
	})
	f := &fixture{hsm: s, d: d, pins: &pinCounter{pin: s.PIN}}
	f.b = f.open(t, s.URI(), f.pins)
	return f
}

// open opens another backend on the fixture's driver.
func (f *fixture) open(t *testing.T, uri string, pins hsm.PINSource) *Backend {
	t.Helper()
	u, err := hsm.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.d.open(context.Background(), u, hsm.Options{PIN: pins, Module: f.hsm.Module})
	if err != nil {
		t.Fatalf("open %s: %v", uri, err)
	}
	return b
}

func (f *fixture) generate(t *testing.T, label, alg string) *Key {
	t.Helper()
	k, err := f.b.Generate(context.Background(), hsm.KeySpec{Label: label, Algorithm: alg})
	if err != nil {
		t.Fatalf("generate %s %s: %v", label, alg, err)
	}
	return k.(*Key)
}

// objects returns the handles of every object with a label, read through
// the backend's own session.
func (f *fixture) objects(t *testing.T, label string) []p11.ObjectHandle {
	t.Helper()
	f.b.mu.Lock()
	defer f.b.mu.Unlock()
	hs, err := f.b.findLocked(selTemplate(keySelector{label: label}))
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// findClass returns the single object of a class with a label.
func (f *fixture) findClass(t *testing.T, class uint, label string) p11.ObjectHandle {
	t.Helper()
	f.b.mu.Lock()
	defer f.b.mu.Unlock()
	hs, err := f.b.findLocked(classTemplate(class, keySelector{label: label}))
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 {
		t.Fatalf("%d objects of class %d labelled %q, want 1", len(hs), class, label)
	}
	return hs[0]
}

// attr reads one attribute of an object.
func (f *fixture) attr(t *testing.T, h p11.ObjectHandle, typ uint) []byte {
	t.Helper()
	f.b.mu.Lock()
	defer f.b.mu.Unlock()
	v, err := f.b.attrs(h, typ)
	if err != nil {
		t.Fatalf("attribute 0x%x: %v", typ, err)
	}
	return v[0]
}

func digest256(msg string) []byte {
	d := sha256.Sum256([]byte(msg))
	return d[:]
}

func digest384(msg string) []byte {
	d := sha512.Sum384([]byte(msg))
	return d[:]
}
