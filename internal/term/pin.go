// Package term asks the operator for secrets and confirmations on the
// terminal (/dev/tty, never stdin or the environment), or reads them from a
// file given with --pin-file for automation.
package term

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	xterm "golang.org/x/term"

	"github.com/keyrite/keyrite/internal/fsutil"
)

// Request says which secret is asked for. It mirrors hsm.PINRequest
// without importing hsm: the terminal knows nothing of devices, and the
// command line adapts one to the other.
type Request struct {
	Device  string // what the secret is for, e.g. `token "ceremony" (serial 1a2b)`
	Kind    string // "PIN", "passphrase", "PUK", "new PIN" or "new PUK"
	Confirm bool   // a new secret: ask twice
}

// PINSource answers PIN requests from a file or the terminal. It asks at
// most once per device per command, so a batch needs one PIN entry.
type PINSource struct {
	File string // --pin-file; empty means prompt on /dev/tty
	// OnRead, when set, is told of every secret read from the file or the
	// terminal (not of those answered from the cache): the operator's PIN
	// entries, which a batch keeps to one per device.
	OnRead func(Request)

	mu    sync.Mutex
	cache map[string][]byte
}

// PIN returns the secret req asks for; the caller may wipe it.
func (p *PINSource) PIN(ctx context.Context, req Request) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := req.Kind + "\x00" + req.Device
	if v, ok := p.cache[key]; ok {
		return bytes.Clone(v), nil
	}
	var (
		v   []byte
		err error
	)
	if p.File != "" {
		v, err = ReadSecretFile(p.File)
	} else {
		v, err = promptSecret(req)
	}
	if err != nil {
		return nil, err
	}
	if p.OnRead != nil {
		p.OnRead(req)
	}
	if p.cache == nil {
		p.cache = map[string][]byte{}
	}
	p.cache[key] = bytes.Clone(v)
	return v, nil
}

// Wipe forgets every cached secret.
func (p *PINSource) Wipe() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, v := range p.cache {
		wipe(v)
		delete(p.cache, k)
	}
}

// MaxSecretFileSize bounds a PIN, PUK or passphrase file: one line, and
// room for a comment after it.
const MaxSecretFileSize = 4096

// ReadSecretFile reads a PIN, PUK or passphrase file: the first line,
// without its line ending. The file must be a regular file of at most
// MaxSecretFileSize bytes that only its owner may read or write (an
// *fsutil.PermissionError otherwise, as ssh refuses a loose private key):
// a secret others could read is no secret, and keyrite will not use it.
func ReadSecretFile(path string) ([]byte, error) {
	b, err := fsutil.ReadPrivate(path, "secret file", MaxSecretFileSize)
	if err != nil {
		return nil, err
	}
	defer wipe(b)
	out, err := ParseSecret(b)
	if err != nil {
		return nil, fmt.Errorf("secret file %s %w", path, err)
	}
	return out, nil
}

// ErrEmptySecret is a secret file whose first line is empty.
var ErrEmptySecret = errors.New("is empty (the secret is its first line)")

// ParseSecret returns a secret file's first line, without its line ending
// ("\n" or "\r\n"), in a new slice the caller may wipe.
func ParseSecret(b []byte) ([]byte, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return nil, ErrEmptySecret
	}
	return bytes.Clone(line), nil
}

// ErrNoTerminal is returned when a secret is needed but there is no
// terminal to ask on.
var ErrNoTerminal = errors.New("no terminal to ask for the PIN or passphrase on")

func promptSecret(req Request) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, ErrNoTerminal
	}
	defer tty.Close()
	what := req.Kind
	if what == "" {
		what = "PIN"
	}
	ask := func(prompt string) ([]byte, error) {
		fmt.Fprintf(tty, "%s: ", prompt)
		v, err := xterm.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		if err != nil {
			return nil, fmt.Errorf("reading %s from the terminal: %w", what, err)
		}
		return v, nil
	}
	v, err := ask(fmt.Sprintf("Enter %s for %s", what, req.Device))
	if err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, fmt.Errorf("empty %s", what)
	}
	if req.Confirm {
		again, err := ask(fmt.Sprintf("Confirm %s", what))
		if err != nil {
			wipe(v)
			return nil, err
		}
		same := bytes.Equal(v, again)
		wipe(again)
		if !same {
			wipe(v)
			return nil, fmt.Errorf("the two %ss do not match", what)
		}
	}
	return v, nil
}

// Ask prompts on the terminal and reads one answer, without echo when
// secret. Plugins (age-plugin-yubikey's PIN, a confirmation) ask through
// it.
func Ask(prompt string, secret bool) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, ErrNoTerminal
	}
	defer tty.Close()
	fmt.Fprintf(tty, "%s ", prompt)
	if secret {
		v, err := xterm.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		return v, err
	}
	var line []byte
	buf := make([]byte, 1)
	for {
		n, err := tty.Read(buf)
		if n == 1 && buf[0] != '\n' {
			line = append(line, buf[0])
		}
		if err != nil || (n == 1 && buf[0] == '\n') {
			return bytes.TrimSuffix(line, []byte("\r")), err
		}
	}
}

// wipe overwrites a secret in memory (as hsm.Wipe does; term does not
// import hsm).
func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
