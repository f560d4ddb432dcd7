package session

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"sort"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/internal/buildinfo"
	"github.com/keyrite/keyrite/internal/sshsig"
)

// HostFacts describes this machine. What cannot be read is left empty:
// a record is never refused for want of a host fact.
func HostFacts() bundle.Host {
	h := bundle.Host{OS: runtime.GOOS + "/" + runtime.GOARCH, Kernel: kernelRelease(), Interfaces: []bundle.Interface{}}
	h.Hostname, _ = os.Hostname()
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		it := bundle.Interface{Name: i.Name, Up: i.Flags&net.FlagUp != 0, Running: i.Flags&net.FlagRunning != 0,
			Loopback: i.Flags&net.FlagLoopback != 0, MAC: i.HardwareAddr.String()}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			it.Addrs = append(it.Addrs, a.String())
		}
		sort.Strings(it.Addrs)
		h.Interfaces = append(h.Interfaces, it)
	}
	sort.Slice(h.Interfaces, func(a, b int) bool { return h.Interfaces[a].Name < h.Interfaces[b].Name })
	return h
}

// startFacts adds to a ceremony.start line what the session knows of the
// keyrite that runs it, the machine, the witnesses the operator declared
// (their allowed signers, checked against their signatures) and the plan
// being run.
func (s *Session) startFacts(ev map[string]any) error {
	ev["keyrite"] = buildinfo.Get()
	ev["host"] = HostFacts()
	if len(s.Witnesses) > 0 {
		if _, err := sshsig.ParseAllowedSigners(s.Witnesses); err != nil {
			return fmt.Errorf("the ceremony's witnesses: %w", err)
		}
		ev["witnesses"] = string(s.Witnesses)
	}
	if s.PlanSHA256 != "" {
		ev["plan_sha256"] = s.PlanSHA256
	}
	// The trust decisions taken before the ceremony began (each also gets
	// its own trust.root line).
	if len(s.trusted) > 0 {
		var ts []map[string]any
		for _, t := range s.trusted {
			ts = append(ts, map[string]any{"gun": t.GUN, "how": t.How, "current_version": t.Version})
		}
		ev["trusted"] = ts
	}
	return nil
}
