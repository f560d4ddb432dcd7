package session

import (
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
)

// Build is the keyrite that ran a ceremony, from the binary's build
// information: its module version and the VCS revision it was built from.
type Build struct {
	Version      string `json:"version"` // "(devel)" for a source build
	Revision     string `json:"revision,omitempty"`
	RevisionTime string `json:"revision_time,omitempty"`
	Dirty        bool   `json:"dirty,omitempty"` // built from a tree with uncommitted changes
	Go           string `json:"go"`
}

// Host is what a ceremony's first line records of the machine it ran on:
// nothing secret, enough for an auditor to tell machines apart and to see
// whether a network was up.
type Host struct {
	Hostname   string      `json:"hostname"`
	OS         string      `json:"os"`               // GOOS/GOARCH
	Kernel     string      `json:"kernel,omitempty"` // uname release
	Interfaces []Interface `json:"interfaces"`
}

// Interface is one network interface and its state.
type Interface struct {
	Name     string   `json:"name"`
	Up       bool     `json:"up"`
	Running  bool     `json:"running"` // up with a carrier (RUNNING)
	Loopback bool     `json:"loopback,omitempty"`
	MAC      string   `json:"mac,omitempty"`
	Addrs    []string `json:"addrs,omitempty"`
}

// BuildFacts reads the running binary's build information.
func BuildFacts() Build {
	b := Build{Version: "(unknown)", Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.RevisionTime = s.Value
		case "vcs.modified":
			b.Dirty = s.Value == "true"
		}
	}
	return b
}

// HostFacts describes this machine. What cannot be read is left empty:
// a record is never refused for want of a host fact.
func HostFacts() Host {
	h := Host{OS: runtime.GOOS + "/" + runtime.GOARCH, Kernel: kernelRelease(), Interfaces: []Interface{}}
	h.Hostname, _ = os.Hostname()
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		it := Interface{Name: i.Name, Up: i.Flags&net.FlagUp != 0, Running: i.Flags&net.FlagRunning != 0,
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

// NetworkUp names the interfaces other than loopback that are up, with a
// carrier: what an auditor of an air-gapped ceremony looks at first.
func (h Host) NetworkUp() []string {
	var up []string
	for _, i := range h.Interfaces {
		if i.Up && i.Running && !i.Loopback {
			up = append(up, i.Name+" "+strings.Join(i.Addrs, " "))
		}
	}
	return up
}

// startFacts adds to a ceremony.start line what the session knows of the
// keyrite that runs it, the machine, and the witnesses the operator
// declared (their allowed signers, checked against their signatures).
func (s *Session) startFacts(ev map[string]any) {
	ev["keyrite"] = BuildFacts()
	ev["host"] = HostFacts()
	if len(s.Witnesses) > 0 {
		ev["witnesses"] = string(s.Witnesses)
	}
}
