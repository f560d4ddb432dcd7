// Package yubikey is keyrite's backend for YubiKeys (PIV applet) through
// go-piv/piv-go and the system's PC/SC service.
//
// Devices are named by serial, never by reader name or position:
//
//	yubikey:serial=12345678;slot=9c
//
// With several YubiKeys attached keyrite never picks one by itself, and a
// command that needs a YubiKey that is not attached asks for it ("insert
// YubiKey serial N") and waits, unless Options.NoWait is set.
package yubikey

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/keyrite/keyrite/hsm"
)

// Driver opens YubiKeys. A YubiKey connection is exclusive, so the driver
// shares one connection per serial among the backends it opens; Close
// releases them all.
type Driver struct {
	// Poll is how often a waiting Open looks for the device again.
	Poll time.Duration

	mu      sync.Mutex
	devices map[uint32]*device
}

// NewDriver returns a driver that has touched no device yet.
func NewDriver() *Driver {
	return &Driver{Poll: 500 * time.Millisecond, devices: map[uint32]*device{}}
}

var _ hsm.Driver = (*Driver)(nil)

// device is one open YubiKey, shared by backends.
type device struct {
	mu      sync.Mutex
	c       *card
	refs    int
	gone    error // set once the device was found removed
	pinErr  error // the first PIN failure, returned again: never retried
	drv     *Driver
	touched time.Time // when keyrite last asked for a touch (touch.go)
}

func (d *device) name() string { return describe(d.c.serial) }

// Devices lists the YubiKeys attached now.
func (d *Driver) Devices(ctx context.Context, opts hsm.Options) ([]hsm.DeviceInfo, error) {
	d.mu.Lock()
	open := map[uint32]*device{}
	for k, v := range d.devices {
		open[k] = v
	}
	d.mu.Unlock()
	res, err := scan(0)
	if err != nil {
		return nil, err
	}
	var out []hsm.DeviceInfo
	for _, c := range res.cards {
		out = append(out, deviceInfo(c))
	}
	for _, dev := range open {
		out = append(out, deviceInfo(dev.c))
	}
	for _, b := range res.busy {
		logf(opts.Log, "warning: the card in %q is in use by another program; close it to see it here", b)
	}
	return out, nil
}

func deviceInfo(c *card) hsm.DeviceInfo {
	info := hsm.DeviceInfo{
		URI:          DeviceURI(c.serial),
		Kind:         Scheme,
		Label:        "YubiKey",
		Serial:       fmt.Sprint(c.serial),
		Manufacturer: "Yubico",
		Model:        modelName(c),
		Firmware:     fmt.Sprintf("%d.%d.%d", c.version.Major, c.version.Minor, c.version.Patch),
	}
	info.Warnings = Advisories(c.version)
	return info
}

func modelName(c *card) string {
	if c.form == 0 {
		return "YubiKey PIV"
	}
	return "YubiKey " + c.form.String()
}

// Open opens the YubiKey a URI names by serial, waiting for it to be
// inserted unless opts.NoWait.
func (d *Driver) Open(ctx context.Context, u *hsm.URI, opts hsm.Options) (hsm.Backend, error) {
	sel, err := parseURI(u)
	if err != nil {
		if u.Scheme == Scheme && !u.Has("serial") {
			// Never pick a device: say which serials there are to choose.
			if res, serr := scan(0); serr == nil && len(res.cards) > 0 {
				return nil, fmt.Errorf("%w (%s)", err, seenText(res))
			}
		}
		return nil, err
	}
	dev, err := d.acquire(ctx, sel.serial, opts)
	if err != nil {
		return nil, err
	}
	b := &Backend{dev: dev, opts: opts, sel: sel}
	for _, w := range Advisories(dev.c.version) {
		logf(opts.Log, "warning: %s: %s", dev.name(), w)
	}
	return b, nil
}

func (d *Driver) acquire(ctx context.Context, serial uint32, opts hsm.Options) (*device, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if dev, ok := d.devices[serial]; ok {
		dev.refs++
		return dev, nil
	}
	asked := false
	for {
		res, err := scan(serial)
		if err != nil {
			return nil, err
		}
		if c := res.find(serial); c != nil {
			if asked {
				logf(opts.Log, "%s found", describe(serial))
			}
			dev := &device{c: c, refs: 1, drv: d}
			d.devices[serial] = dev
			return dev, nil
		}
		absent := &hsm.DeviceAbsentError{Device: describe(serial), Seen: res.seen()}
		if opts.NoWait {
			return nil, absent
		}
		if !asked {
			logf(opts.Log, "insert %s (%s); waiting (Ctrl-C to stop)", describe(serial), seenText(res))
			asked = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (stopped waiting: %v)", absent, ctx.Err())
		case <-time.After(d.Poll):
		}
	}
}

func seenText(r *scanResult) string {
	s := r.seen()
	if len(s) == 0 {
		return "no YubiKey attached"
	}
	out := "attached: "
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}

// release drops a backend's reference; the last one closes the connection.
func (d *Driver) release(dev *device) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	dev.refs--
	if dev.refs > 0 {
		return nil
	}
	if d.devices[dev.c.serial] == dev {
		delete(d.devices, dev.c.serial)
	}
	if dev.c.yk == nil {
		return nil
	}
	err := dev.c.yk.Close()
	dev.c.yk = nil
	if dev.gone != nil {
		return nil // closing a removed card fails; that was reported already
	}
	return err
}

// Close releases every connection the driver still holds.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, dev := range d.devices {
		if dev.c.yk != nil {
			dev.c.yk.Close()
			dev.c.yk = nil
		}
		delete(d.devices, k)
	}
	return nil
}

// Advisories lists the security advisories that apply to a firmware.
func Advisories(v piv.Version) []string {
	var out []string
	if v.Major < 5 || (v.Major == 5 && v.Minor < 7) {
		out = append(out, fmt.Sprintf("firmware %d.%d.%d is affected by YSA-2024-03 (ECDSA side channel, fixed in 5.7.0): an attacker with physical access and specialised equipment may recover ECDSA keys; prefer a YubiKey with firmware 5.7.0 or later for root keys",
			v.Major, v.Minor, v.Patch))
	}
	return out
}

// FirmwareAdvisories is Advisories for a firmware written "5.7.1"; an
// unreadable version gets none.
func FirmwareAdvisories(fw string) []string {
	var v piv.Version
	if _, err := fmt.Sscanf(fw, "%d.%d.%d", &v.Major, &v.Minor, &v.Patch); err != nil {
		return nil
	}
	return Advisories(v)
}

func logf(w io.Writer, format string, args ...any) {
	if w == nil {
		return
	}
	fmt.Fprintf(w, "keyrite: "+format+"\n", args...)
}
