// Package airgap checks that the machine a ceremony runs on is off every
// network: no network interface but loopback is up, no default route
// (IPv4 or IPv6) exists, and no wireless or Bluetooth device is present.
// It reads /proc and /sys under a root that tests replace; interfaces are
// listed from the process's own network namespace.
package airgap

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Interface is one network interface as the check saw it.
type Interface struct {
	Name     string `json:"name"`
	Up       bool   `json:"up"`
	Loopback bool   `json:"loopback"`
	Wireless bool   `json:"wireless,omitempty"`
}

// Report is what the check saw: recorded in the transcript whether or not
// it passes.
type Report struct {
	Interfaces    []Interface `json:"interfaces"`
	DefaultRoutes []string    `json:"default_routes"`
	Wireless      []string    `json:"wireless_devices"`
	Bluetooth     []string    `json:"bluetooth_devices"`
}

// Problems says what keeps the machine from being air-gapped; empty when
// it is.
func (r *Report) Problems() []string {
	var out []string
	for _, i := range r.Interfaces {
		if i.Up && !i.Loopback {
			out = append(out, fmt.Sprintf("network interface %s is up", i.Name))
		}
	}
	for _, d := range r.DefaultRoutes {
		out = append(out, "a default route exists ("+d+")")
	}
	for _, w := range r.Wireless {
		out = append(out, "a wireless device is present ("+w+")")
	}
	for _, b := range r.Bluetooth {
		out = append(out, "a Bluetooth device is present ("+b+")")
	}
	return out
}

// Error is a machine that is not air-gapped.
type Error struct {
	Report   *Report
	Problems []string
}

func (e *Error) Error() string {
	return "this machine is not air-gapped: " + strings.Join(e.Problems, "; ")
}

// Checker reads the machine's state. Root is where /proc and /sys are
// read ("" or "/": the machine's own). Interfaces lists the network
// interfaces; nil: read them from Root's /sys/class/net when Root is not
// "/", else ask the kernel for the process's network namespace.
type Checker struct {
	Root       string
	Interfaces func() ([]Interface, error)
}

// Check looks at the machine (see Checker.Check).
func Check() (*Report, error) { return (&Checker{}).Check() }

// Require checks the machine and returns an *Error unless it is
// air-gapped; the report is returned in both cases.
func Require() (*Report, error) { return (&Checker{}).Require() }

// Require is Check, refusing a machine that is not air-gapped.
func (c *Checker) Require() (*Report, error) {
	r, err := c.Check()
	if err != nil {
		return nil, err
	}
	if p := r.Problems(); len(p) > 0 {
		return r, &Error{Report: r, Problems: p}
	}
	return r, nil
}

// Check reports the interfaces, default routes, and wireless and
// Bluetooth devices. A file that cannot be read is an error, never a pass.
func (c *Checker) Check() (*Report, error) {
	root := c.Root
	if root == "" {
		root = "/"
	}
	list := c.Interfaces
	if list == nil {
		if root == "/" {
			list = kernelInterfaces
		} else {
			list = func() ([]Interface, error) { return sysInterfaces(root) }
		}
	}
	ifs, err := list()
	if err != nil {
		return nil, fmt.Errorf("listing network interfaces: %w", err)
	}
	for i := range ifs {
		if _, err := os.Stat(filepath.Join(root, "sys/class/net", ifs[i].Name, "wireless")); err == nil {
			ifs[i].Wireless = true
		}
	}
	sort.Slice(ifs, func(i, j int) bool { return ifs[i].Name < ifs[j].Name })
	r := &Report{Interfaces: ifs, DefaultRoutes: []string{}, Wireless: []string{}, Bluetooth: []string{}}
	if r.DefaultRoutes, err = defaultRoutes(root); err != nil {
		return nil, err
	}
	for _, i := range ifs {
		if i.Wireless {
			r.Wireless = append(r.Wireless, "interface "+i.Name)
		}
	}
	phys, err := classDevices(root, "ieee80211")
	if err != nil {
		return nil, err
	}
	r.Wireless = append(r.Wireless, phys...)
	if r.Bluetooth, err = classDevices(root, "bluetooth"); err != nil {
		return nil, err
	}
	return r, nil
}

// kernelInterfaces asks the kernel (netlink) for the interfaces of the
// process's network namespace.
func kernelInterfaces() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []Interface
	for _, i := range ifs {
		out = append(out, Interface{Name: i.Name, Up: i.Flags&net.FlagUp != 0, Loopback: i.Flags&net.FlagLoopback != 0})
	}
	return out, nil
}

// Interface flags, as /sys/class/net/NAME/flags gives them.
const (
	iffUp       = 0x1
	iffLoopback = 0x8
)

// sysInterfaces reads the interfaces from ROOT/sys/class/net.
func sysInterfaces(root string) ([]Interface, error) {
	dir := filepath.Join(root, "sys/class/net")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Interface
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "flags"))
		if err != nil {
			return nil, err
		}
		f, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(string(b)), "0x"), 16, 32)
		if err != nil {
			return nil, fmt.Errorf("%s/%s/flags: %q", dir, e.Name(), b)
		}
		out = append(out, Interface{Name: e.Name(), Up: f&iffUp != 0, Loopback: f&iffLoopback != 0})
	}
	return out, nil
}

// Route flags (linux/route.h).
const (
	rtfUp     = 0x0001
	rtfReject = 0x0200
)

// defaultRoutes lists the default routes of /proc/net/route and
// /proc/net/ipv6_route; rejecting routes (the kernel's IPv6 "unreachable"
// entries on lo) do not reach anything and are not counted.
func defaultRoutes(root string) ([]string, error) {
	out := []string{}
	b, err := os.ReadFile(filepath.Join(root, "proc/net/route"))
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for first := true; sc.Scan(); first = false {
		f := strings.Fields(sc.Text())
		if first || len(f) < 8 {
			continue
		}
		flags, _ := strconv.ParseUint(f[3], 16, 32)
		if f[1] == "00000000" && f[7] == "00000000" && flags&rtfUp != 0 && flags&rtfReject == 0 {
			out = append(out, "IPv4 via "+f[0])
		}
	}
	b, err = os.ReadFile(filepath.Join(root, "proc/net/ipv6_route"))
	if err != nil {
		if os.IsNotExist(err) {
			return out, nil // no IPv6 in this kernel
		}
		return nil, err
	}
	sc = bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		flags, _ := strconv.ParseUint(f[8], 16, 32)
		if f[0] == strings.Repeat("0", 32) && f[1] == "00" && flags&rtfUp != 0 && flags&rtfReject == 0 && f[9] != "lo" {
			out = append(out, "IPv6 via "+f[9])
		}
	}
	return out, nil
}

// classDevices lists /sys/class/NAME; a class the kernel lacks has none.
func classDevices(root, class string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(root, "sys/class", class))
	if os.IsNotExist(err) {
		return []string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, e := range ents {
		out = append(out, class+" "+e.Name())
	}
	return out, nil
}
