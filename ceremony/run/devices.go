package run

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/keyrite/keyrite/ceremony/plan"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
)

// DeviceStatus says whether a device the plan names is at hand.
type DeviceStatus struct {
	Name     string `json:"name"`
	URI      string `json:"uri"`
	Attached bool   `json:"attached"`
	Found    string `json:"found,omitempty"` // what was found: label, serial, model
	Note     string `json:"note,omitempty"`
}

// AbsentError is a plan whose devices are not all attached: the run does
// not start.
type AbsentError struct{ Devices []DeviceStatus }

func (e *AbsentError) Error() string {
	var s []string
	for _, d := range e.Devices {
		s = append(s, fmt.Sprintf("%s (%s)", d.Name, d.URI))
	}
	return "devices of the plan not attached: " + strings.Join(s, ", ")
}

// CheckDevices looks for every device of the plan among the attached ones,
// without opening any (no PIN is asked). A software token is at hand when
// its file exists or a step of the plan makes a key on it.
func CheckDevices(ctx context.Context, env session.Env, p *plan.Plan) ([]DeviceStatus, error) {
	// Only the kinds the plan names are listed, YubiKeys first: a PKCS#11
	// module such as OpenSC keeps open the cards it lists.
	attached, errs := []hsm.DeviceInfo{}, map[string]error{}
	for _, scheme := range []string{"yubikey", "pkcs11"} {
		if !usesScheme(p, scheme) {
			continue
		}
		ds, err := env.Registry.SchemeDevices(ctx, scheme, env.HSM)
		if err != nil {
			errs[scheme] = err
		}
		attached = append(attached, ds...)
	}
	var out []DeviceStatus
	var absent []DeviceStatus
	for _, name := range sortedNames(p.Devices) {
		uri, err := p.DeviceURI(name)
		if err != nil {
			return nil, err
		}
		u, err := hsm.ParseURI(uri)
		if err != nil {
			return nil, err
		}
		st := DeviceStatus{Name: name, URI: uri}
		switch u.Scheme {
		case "softkey":
			if _, err := os.Stat(u.Get("file")); err == nil {
				st.Attached, st.Found = true, "software token file "+u.Get("file")
			} else if makesKeyOn(p, name) {
				st.Attached, st.Note = true, "the software token file is made by the plan's key generation"
			}
		default:
			for _, d := range attached {
				if matches(u, d) {
					st.Attached = true
					st.Found = strings.TrimSpace(fmt.Sprintf("%s %q serial %s %s", d.Kind, d.Label, d.Serial, d.Model))
					break
				}
			}
			if !st.Attached {
				if err, ok := errs[u.Scheme]; ok {
					st.Note = err.Error()
				}
			}
		}
		out = append(out, st)
		if !st.Attached {
			absent = append(absent, st)
		}
	}
	if len(absent) > 0 {
		return out, &AbsentError{Devices: absent}
	}
	return out, nil
}

// matches says whether an attached device is the one a URI names.
func matches(u *hsm.URI, d hsm.DeviceInfo) bool {
	if d.Kind != u.Scheme {
		return false
	}
	switch u.Scheme {
	case "yubikey":
		return d.Serial == u.Get("serial")
	case "pkcs11":
		if t := u.Get("token"); t != "" && t != d.Label {
			return false
		}
		if s := u.Get("serial"); s != "" && s != d.Serial {
			return false
		}
		return u.Has("token") || u.Has("serial")
	}
	return false
}

func makesKeyOn(p *plan.Plan, device string) bool {
	for _, s := range p.Steps {
		if s.Generate != nil {
			for _, d := range s.Generate.Devices {
				if d == device {
					return true
				}
			}
		}
	}
	return false
}

// usesScheme says whether the plan names a device of a URI scheme.
func usesScheme(p *plan.Plan, scheme string) bool {
	for name := range p.Devices {
		if uri, err := p.DeviceURI(name); err == nil && strings.HasPrefix(uri, scheme+":") {
			return true
		}
	}
	return false
}
