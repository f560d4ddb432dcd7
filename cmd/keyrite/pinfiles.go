package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/term"
)

// pinFiles is --pin-file, repeated: DEVICE=FILE for one device (a device
// URI as keyrite device list prints it, or fewer of its attributes, or its
// serial), or one FILE without DEVICE= for the one device that asks for a
// PIN. A PIN is never tried on a device it was not given for: the plain
// FILE goes to the first device that asks, and a second device that asks
// is refused before anything is sent to it (*pinFileError). A device no
// file names is asked for on the terminal, by name.
type pinFiles struct {
	labelled []pinFileEntry
	plain    string

	mu      sync.Mutex
	boundTo *pinDevice // the device the plain file went to
	sources map[string]*term.PINSource
	prompt  *term.PINSource
	onRead  func(term.Request, string) // told of each PIN entry and its source
}

type pinFileEntry struct {
	spec, file string
	sel        *hsm.URI // nil for a serial
	serial     string
}

// A serial as a selector: what YubiKeys and PKCS#11 tokens print.
var serialSelector = regexp.MustCompile(`^[0-9A-Za-z]+$`)

// parsePINFiles reads the --pin-file values. DEVICE=FILE is split at the
// last '=' (a URI holds '=' itself); a value whose part before it is not
// a device URI or a serial is a FILE (write ./a=b for a file named a=b).
func parsePINFiles(specs []string) (*pinFiles, error) {
	p := &pinFiles{sources: map[string]*term.PINSource{}}
	p.prompt = &term.PINSource{OnRead: p.told("")}
	for _, s := range specs {
		i := strings.LastIndex(s, "=")
		dev, file := "", s
		if i > 0 {
			dev, file = s[:i], s[i+1:]
		}
		e := pinFileEntry{spec: dev, file: file}
		switch {
		case dev != "" && strings.Contains(dev, ":"):
			u, err := hsm.ParseURI(dev)
			if err != nil {
				return nil, fmt.Errorf("--pin-file %s: %w", s, err)
			}
			e.sel = u
		case dev != "" && serialSelector.MatchString(dev):
			e.serial = dev
		default:
			e.file = s
			if p.plain != "" {
				return nil, fmt.Errorf("--pin-file: only one FILE without DEVICE= may be given (%s and %s); name the device of each: --pin-file DEVICE=FILE", p.plain, s)
			}
			p.plain = s
			continue
		}
		if file == "" {
			return nil, fmt.Errorf("--pin-file %s: no file after %s=", s, dev)
		}
		p.labelled = append(p.labelled, e)
	}
	return p, nil
}

// checkPINFlags rejects --pin-file values keyrite cannot use, before any
// command runs: a plain FILE with two devices named on the command line
// that no DEVICE=FILE covers (one PIN would be tried on both). Devices a
// ceremony plan names are guarded when they ask (fileFor).
func (a *App) checkPINFlags(c *cobra.Command) error {
	p, err := parsePINFiles(a.PINFiles)
	if err != nil {
		return usagef(c, "%v", err)
	}
	if p.plain == "" {
		return nil
	}
	var uncovered []*pinDevice
	for _, d := range flagDevices(c) {
		covered := false
		for _, e := range p.labelled {
			covered = covered || e.matches(d)
		}
		for _, u := range uncovered {
			covered = covered || u.same(d)
		}
		if !covered {
			uncovered = append(uncovered, d)
		}
	}
	if len(uncovered) > 1 {
		return &pinFileError{first: uncovered[0].String(), device: uncovered[1].String(), file: p.plain, upFront: true}
	}
	return nil
}

// flagDevices are the devices the command's flags name (key and device
// URIs), each once.
func flagDevices(c *cobra.Command) []*pinDevice {
	var out []*pinDevice
	c.Flags().Visit(func(f *pflag.Flag) {
		var values []string
		switch f.Value.Type() {
		case "string":
			values = []string{f.Value.String()}
		case "stringArray":
			values, _ = c.Flags().GetStringArray(f.Name)
		}
		for _, v := range values {
			u, err := hsm.ParseURI(v)
			if err != nil || !strings.Contains(v, ":") || strings.Contains(v, "://") || f.Name == "pin-file" {
				continue
			}
			switch u.Scheme {
			case "yubikey", "pkcs11", "softkey":
				out = append(out, &pinDevice{uri: u.Without("object", "id", "slot"), name: v})
			}
		}
	})
	return out
}

// pinDevice is who asks: the device's URI (parsed) and its description.
type pinDevice struct {
	uri  *hsm.URI
	name string
}

func deviceOf(req hsm.PINRequest) *pinDevice {
	d := &pinDevice{name: req.Device}
	if u, err := hsm.ParseURI(req.DeviceURI); err == nil {
		d.uri = u
	}
	return d
}

// same says whether two requests come from one device: one URI selects
// the other (a device opened as pkcs11:token=x describes itself with its
// serial too), or, without URIs, the same description.
func (d *pinDevice) same(o *pinDevice) bool {
	if d.uri != nil && o.uri != nil {
		return d.uri.Selects(o.uri) || o.uri.Selects(d.uri)
	}
	return d.name == o.name
}

func (d *pinDevice) String() string {
	if d.uri != nil {
		return hsm.Redact(d.uri.String())
	}
	return d.name
}

func (e pinFileEntry) matches(d *pinDevice) bool {
	if d.uri == nil {
		return false
	}
	if e.sel != nil {
		return e.sel.Selects(d.uri)
	}
	return d.uri.Get("serial") == e.serial
}

// fileFor is the file that holds a device's PIN, "" to ask on the
// terminal.
func (p *pinFiles) fileFor(d *pinDevice) (string, error) {
	var found []pinFileEntry
	for _, e := range p.labelled {
		if e.matches(d) {
			found = append(found, e)
		}
	}
	switch {
	case len(found) > 1 && found[0].file != found[1].file:
		return "", &pinFileError{device: d.String(), ambiguous: []string{found[0].spec, found[1].spec}}
	case len(found) > 0:
		return found[0].file, nil
	case p.plain == "":
		return "", nil
	case p.boundTo == nil:
		p.boundTo = d
		return p.plain, nil
	case p.boundTo.same(d):
		return p.plain, nil
	}
	return "", &pinFileError{device: d.String(), first: p.boundTo.String(), file: p.plain}
}

// PIN implements hsm.PINSource: each device's PIN from its own file, else
// from the terminal with the device named, read once per device and run.
func (p *pinFiles) PIN(ctx context.Context, req hsm.PINRequest) ([]byte, error) {
	p.mu.Lock()
	file, err := p.fileFor(deviceOf(req))
	src := p.prompt
	if err == nil && file != "" {
		if src = p.sources[file]; src == nil {
			src = &term.PINSource{File: file, OnRead: p.told(file)}
			p.sources[file] = src
		}
	}
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return src.PIN(ctx, term.Request{Device: req.Device, Kind: req.Kind, Confirm: req.Confirm})
}

// told reports a PIN entry from a source to onRead, if set.
func (p *pinFiles) told(file string) func(term.Request) {
	return func(r term.Request) {
		if p.onRead != nil {
			p.onRead(r, file)
		}
	}
}

// forDevice is the file --pin-file gives for the device a URI names (for
// provisioning, which reads a new PIN), "" when none.
func (p *pinFiles) forDevice(uri string) (string, error) {
	u, err := hsm.ParseURI(uri)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fileFor(&pinDevice{uri: u.Without("object", "id", "slot"), name: uri})
}

// Wipe forgets every PIN read.
func (p *pinFiles) Wipe() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.sources {
		s.Wipe()
	}
	p.prompt.Wipe()
}

// pinFileError is a PIN file keyrite will not try on a device: the one
// plain --pin-file already went to another device, or two DEVICE= files
// name the same device. Nothing was sent to the device.
type pinFileError struct {
	device    string
	first     string   // the device the plain file went to
	file      string   // the plain file
	ambiguous []string // two selectors naming the device
	upFront   bool     // found from the command line, before any device was opened
}

func (e *pinFileError) Error() string {
	if len(e.ambiguous) > 0 {
		return fmt.Sprintf("%s: --pin-file %s= and %s= both name this device; no PIN was sent to it", e.device, e.ambiguous[0], e.ambiguous[1])
	}
	if e.upFront {
		return fmt.Sprintf("--pin-file %s does not say which device it is for, and this command uses two: %s and %s; keyrite never tries one device's PIN on another (nothing was done)",
			e.file, e.first, e.device)
	}
	return fmt.Sprintf("%s needs a PIN too, but --pin-file %s was read for %s: keyrite never tries one device's PIN on another; no PIN was sent to %s",
		e.device, e.file, e.first, e.device)
}

func (e *pinFileError) hint() string {
	if len(e.ambiguous) > 0 {
		return "name each device once in --pin-file DEVICE=FILE"
	}
	return fmt.Sprintf("give one PIN file per device, named by its URI (keyrite device list) or serial: --pin-file '%s=FILE' --pin-file '%s=FILE2', or leave a device out to be asked on the terminal",
		e.first, e.device)
}

// newPINFile is the --pin-file that gives the new PIN of the device a URI
// names (device provision): its DEVICE=FILE, else the plain FILE.
func (a *App) newPINFile(uri string) (string, error) {
	p, err := parsePINFiles(a.PINFiles)
	if err != nil {
		return "", err
	}
	return p.forDevice(uri)
}

// plainPINFile is the --pin-file given without DEVICE= ("" if none): a
// plan's provision steps read their new PINs from it.
func (a *App) plainPINFile() string {
	p, err := parsePINFiles(a.PINFiles)
	if err != nil {
		return ""
	}
	return p.plain
}
