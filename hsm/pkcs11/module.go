package pkcs11

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	p11 "github.com/miekg/pkcs11"
)

// DefaultModulePaths lists the PKCS#11 modules tried, in order, when neither
// the URI's module-path nor --module names one: Debian's SoftHSM2 and
// OpenSC.
func DefaultModulePaths() []string {
	return []string{
		"/usr/lib/softhsm/libsofthsm2.so",
		"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
	}
}

// module is one loaded and initialised PKCS#11 library.
type module struct {
	path  string // symlinks resolved: the key in loaded
	ctx   *p11.Ctx
	refs  int
	owned bool // our C_Initialize succeeded, so C_Finalize is ours to call

	// sessions counts this process's open sessions per slot. The login
	// state is per token and application, not per session, so a backend
	// logs out only when it closes the last session on its token.
	sessionsMu sync.Mutex
	sessions   map[uint]int
}

// addSession records a session opened on a slot.
func (m *module) addSession(slot uint) {
	m.sessionsMu.Lock()
	defer m.sessionsMu.Unlock()
	if m.sessions == nil {
		m.sessions = map[uint]int{}
	}
	m.sessions[slot]++
}

// dropSession records a session about to close and reports whether it is
// the last one on its slot.
func (m *module) dropSession(slot uint) (last bool) {
	m.sessionsMu.Lock()
	defer m.sessionsMu.Unlock()
	m.sessions[slot]--
	if m.sessions[slot] <= 0 {
		delete(m.sessions, slot)
		return true
	}
	return false
}

// loaded holds the modules this process has initialised. It is process-wide
// because PKCS#11 initialisation is: dlopen returns the same library for the
// same file, a second C_Initialize fails with
// CKR_CRYPTOKI_ALREADY_INITIALIZED, and a C_Finalize from one user would
// close every other user's sessions. Drivers therefore share one module per
// file and the last one to release it finalizes.
var loaded = struct {
	sync.Mutex
	m map[string]*module
}{m: map[string]*module{}}

// acquireModule loads and initialises the module at path, or takes another
// reference on it when this process already has.
func acquireModule(path string) (*module, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("PKCS#11 module: %w", err)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("PKCS#11 module: %w", err)
	}
	loaded.Lock()
	defer loaded.Unlock()
	if m, ok := loaded.m[real]; ok {
		m.refs++
		return m, nil
	}
	ctx := p11.New(real)
	if ctx == nil {
		return nil, fmt.Errorf("PKCS#11 module %s: cannot load it as a PKCS#11 library", path)
	}
	owned := true
	if err := ctx.Initialize(); err != nil {
		if !errors.Is(err, p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
			ctx.Destroy()
			return nil, fmt.Errorf("PKCS#11 module %s: initialize: %w", path, err)
		}
		// Code outside this package initialised the library in this
		// process; it is usable, and finalizing it is that code's business.
		owned = false
	}
	m := &module{path: real, ctx: ctx, refs: 1, owned: owned}
	loaded.m[real] = m
	return m, nil
}

// release drops a reference; the last one finalizes and unloads the module.
func (m *module) release() error {
	loaded.Lock()
	defer loaded.Unlock()
	m.refs--
	if m.refs > 0 {
		return nil
	}
	delete(loaded.m, m.path)
	var err error
	if m.owned {
		if ferr := m.ctx.Finalize(); ferr != nil {
			err = fmt.Errorf("PKCS#11 module %s: finalize: %w", m.path, ferr)
		}
	}
	m.ctx.Destroy()
	return err
}
