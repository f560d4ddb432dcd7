// Package pkcs11 is keyrite's backend for PKCS#11 tokens: network and USB
// HSMs, smart cards through OpenSC, and SoftHSM2 for rehearsals and tests.
//
// Devices and keys are named by RFC 7512 style URIs:
//
//	pkcs11:token=ceremony;serial=1a2b;object=root;id=%01%02?module-path=/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so
//
// Nothing is loaded or probed until a Driver opens or lists devices.
package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyrite/keyrite/hsm"
)

// Scheme is the URI scheme this driver serves.
const Scheme = "pkcs11"

// uriAttrs are the attributes a pkcs11: URI may carry; anything else is a
// typo and an error.
var uriAttrs = []string{"token", "serial", "slot-id", "object", "id", "module-path"}

// Driver opens PKCS#11 tokens. It caches one initialised module per library
// file; Close releases them.
type Driver struct {
	mu       sync.Mutex
	modules  map[string]*module // by resolved path
	backends map[*Backend]bool  // open backends, closed by Close
	closed   bool
	defaults []string // DefaultModulePaths; tests replace it
}

// NewDriver returns a driver that has loaded nothing yet.
func NewDriver() *Driver {
	return &Driver{modules: map[string]*module{}, backends: map[*Backend]bool{}, defaults: DefaultModulePaths()}
}

var _ hsm.Driver = (*Driver)(nil)

// Close closes the backends still open and finalizes the modules this
// driver loaded (unless another driver in the process still uses them).
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	backends := d.backends
	d.backends = nil
	d.mu.Unlock()

	var errs []error
	for b := range backends {
		errs = append(errs, b.Close())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, m := range d.modules {
		errs = append(errs, m.release())
		delete(d.modules, k)
	}
	return errors.Join(errs...)
}

// token is one initialised token a module shows.
type token struct {
	mod  *module
	slot uint
	info p11.TokenInfo
	// explicitModule is the module path when it was given rather than
	// found in the default list; Devices puts it in the URIs it prints.
	explicitModule string
}

// describe names a token for prompts and errors.
func describe(info p11.TokenInfo) string {
	return fmt.Sprintf("pkcs11 token %q (serial %s)", info.Label, info.SerialNumber)
}

// module returns this driver's reference on the module at path.
func (d *Driver) module(path string) (*module, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errors.New("pkcs11 driver is closed")
	}
	for _, m := range d.modules {
		if same(m.path, path) {
			return m, nil
		}
	}
	m, err := acquireModule(path)
	if err != nil {
		return nil, err
	}
	if old, ok := d.modules[m.path]; ok {
		// Another spelling of a file already loaded: keep one reference.
		m.release()
		return old, nil
	}
	d.modules[m.path] = m
	return m, nil
}

// same reports whether a resolved module path and a user's path are one
// file, without erroring on paths that do not exist.
func same(resolved, path string) bool {
	if resolved == path {
		return true
	}
	a, err1 := os.Stat(resolved)
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// tokens lists the initialised tokens of the module given (URI
// module-path first, then --module) or of every default module that exists.
func (d *Driver) tokens(ctx context.Context, uriModule string, opts hsm.Options) ([]token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	explicit := uriModule
	if explicit == "" {
		explicit = opts.Module
	}
	if explicit != "" {
		m, err := d.module(explicit)
		if err != nil {
			return nil, err
		}
		return moduleTokens(m, explicit)
	}

	defaults := d.defaults
	var all []token
	var failures []string
	loadedAny := false
	seen := map[string]bool{}
	for _, p := range defaults {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		m, err := d.module(p)
		if err != nil {
			failures = append(failures, err.Error())
			continue
		}
		if seen[m.path] {
			continue // a symlink to a module already listed
		}
		seen[m.path] = true
		toks, err := moduleTokens(m, "")
		if err != nil {
			failures = append(failures, err.Error())
			continue
		}
		loadedAny = true
		all = append(all, toks...)
	}
	if !loadedAny {
		msg := "no usable PKCS#11 module (tried " + strings.Join(defaults, ", ") + ")"
		if len(failures) > 0 {
			msg += ": " + strings.Join(failures, "; ")
		}
		return nil, &hsm.HintError{Err: errors.New(msg),
			Hint: "give the module's path with --module or module-path= in the URI"}
	}
	for _, f := range failures {
		logf(opts.Log, "warning: %s", f)
	}
	return all, nil
}

// moduleTokens lists the initialised tokens of one module. Uninitialised
// tokens (SoftHSM always shows a free one) cannot hold keys and are left out.
func moduleTokens(m *module, explicit string) ([]token, error) {
	faultPoint()
	slots, err := m.ctx.GetSlotList(true)
	if err != nil {
		return nil, fmt.Errorf("PKCS#11 module %s: list slots: %w", m.path, err)
	}
	var out []token
	for _, s := range slots {
		faultPoint()
		info, err := m.ctx.GetTokenInfo(s)
		if err != nil {
			// A token removed between the two calls is simply not there.
			continue
		}
		if info.Flags&p11.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		out = append(out, token{mod: m, slot: s, info: info, explicitModule: explicit})
	}
	return out, nil
}

// Devices lists the initialised tokens of the module given with --module or
// of each default module present. No login is needed.
func (d *Driver) Devices(ctx context.Context, opts hsm.Options) ([]hsm.DeviceInfo, error) {
	toks, err := d.tokens(ctx, "", opts)
	if err != nil {
		return nil, err
	}
	out := make([]hsm.DeviceInfo, 0, len(toks))
	for _, t := range toks {
		out = append(out, deviceInfo(t.info, t.explicitModule))
	}
	return out, nil
}

// Open opens the one token the URI selects by token label, serial or
// slot-id. Key attributes (object, id) are checked but otherwise ignored.
func (d *Driver) Open(ctx context.Context, u *hsm.URI, opts hsm.Options) (hsm.Backend, error) {
	return d.open(ctx, u, opts)
}

func (d *Driver) open(ctx context.Context, u *hsm.URI, opts hsm.Options) (*Backend, error) {
	sel, err := parseURI(u)
	if err != nil {
		return nil, err
	}
	toks, err := d.tokens(ctx, u.Get("module-path"), opts)
	if err != nil {
		return nil, err
	}
	var matches []token
	var seen []string
	for _, t := range toks {
		seen = append(seen, fmt.Sprintf("%s (serial %s)", t.info.Label, t.info.SerialNumber))
		if sel.tok.match(t) {
			matches = append(matches, t)
		}
	}
	switch {
	case len(matches) == 0:
		return nil, &hsm.DeviceAbsentError{Device: sel.tok.String(), Seen: seen}
	case len(matches) > 1:
		var serials []string
		for _, t := range matches {
			serials = append(serials, t.info.SerialNumber)
		}
		return nil, fmt.Errorf("%d tokens match %s (serials %s): add serial= to the URI to pick one",
			len(matches), sel.tok, strings.Join(serials, ", "))
	}
	b, err := openBackend(matches[0], opts, u.Get("module-path"))
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		b.Close()
		return nil, errors.New("pkcs11 driver is closed")
	}
	d.backends[b] = true
	b.forget = func() {
		d.mu.Lock()
		delete(d.backends, b)
		d.mu.Unlock()
	}
	return b, nil
}

// logf writes one operator message; a nil writer discards it.
func logf(w io.Writer, format string, args ...any) {
	if w == nil {
		return
	}
	fmt.Fprintf(w, "keyrite: "+format+"\n", args...)
}
