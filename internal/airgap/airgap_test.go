package airgap

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeRoot lays out /sys and /proc files under a temporary root.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, text := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const (
	routeHeader = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	// The kernel's IPv6 "unreachable" default on lo: rejecting, not a route out.
	ipv6Unreachable = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
)

func isolated() map[string]string {
	return map[string]string{
		"sys/class/net/lo/flags": "0x9\n",
		"proc/net/route":         routeHeader,
		"proc/net/ipv6_route":    ipv6Unreachable,
	}
}

func TestIsolatedPasses(t *testing.T) {
	c := &Checker{Root: fakeRoot(t, isolated())}
	r, err := c.Require()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Interfaces) != 1 || r.Interfaces[0].Name != "lo" || !r.Interfaces[0].Loopback {
		t.Errorf("interfaces = %+v", r.Interfaces)
	}
}

func TestRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		files map[string]string
		want  string
	}{
		"interface up":    {map[string]string{"sys/class/net/eth0/flags": "0x1003\n"}, "network interface eth0 is up"},
		"ipv4 default":    {map[string]string{"proc/net/route": routeHeader + "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"}, "a default route exists (IPv4 via eth0)"},
		"ipv6 default":    {map[string]string{"proc/net/ipv6_route": ipv6Unreachable + "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n"}, "a default route exists (IPv6 via eth0)"},
		"wireless iface":  {map[string]string{"sys/class/net/wlan0/flags": "0x1002\n", "sys/class/net/wlan0/wireless/x": ""}, "a wireless device is present (interface wlan0)"},
		"wireless phy":    {map[string]string{"sys/class/ieee80211/phy0/index": "0\n"}, "a wireless device is present (ieee80211 phy0)"},
		"bluetooth":       {map[string]string{"sys/class/bluetooth/hci0/type": "Primary\n"}, "a Bluetooth device is present (bluetooth hci0)"},
		"down is allowed": {map[string]string{"sys/class/net/eth0/flags": "0x1002\n"}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			files := isolated()
			for k, v := range tc.files {
				files[k] = v
			}
			_, err := (&Checker{Root: fakeRoot(t, files)}).Require()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ae *Error
			if !errors.As(err, &ae) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if ae.Report == nil || len(ae.Report.Interfaces) == 0 {
				t.Errorf("the error carries no report")
			}
		})
	}
}

// A file that cannot be read is an error, never a pass.
func TestUnreadableIsError(t *testing.T) {
	files := isolated()
	delete(files, "proc/net/route")
	if _, err := (&Checker{Root: fakeRoot(t, files)}).Check(); err == nil {
		t.Fatal("no error without /proc/net/route")
	}
}
