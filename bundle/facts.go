package bundle

// What a ceremony's first line (ceremony.start) records besides the
// command line and the devices: the keyrite that ran it ("keyrite"), the
// machine ("host") and, when declared, its witnesses ("witnesses", an
// allowed signers file). Nothing secret.

// BuildFacts is the keyrite that ran a ceremony, from the binary's build
// information: its module version and the VCS revision it was built from
// (the fields of internal/buildinfo.Info, where that package exists).
type BuildFacts struct {
	Version      string `json:"version"` // "(devel)" for a source build
	Revision     string `json:"revision,omitempty"`
	RevisionTime string `json:"revision_time,omitempty"`
	Dirty        bool   `json:"dirty"` // built from a tree with uncommitted changes
	Go           string `json:"go"`
}

// Host is the machine a ceremony ran on: enough for an auditor to tell
// machines apart and to see whether a network was up.
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

// NetworkUp names the interfaces other than loopback that are up with a
// carrier, with their addresses: what an auditor of an air-gapped
// ceremony looks at first.
func (h Host) NetworkUp() []string {
	var up []string
	for _, i := range h.Interfaces {
		if i.Up && i.Running && !i.Loopback {
			s := i.Name
			for _, a := range i.Addrs {
				s += " " + a
			}
			up = append(up, s)
		}
	}
	return up
}
