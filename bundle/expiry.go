package bundle

import (
	"math"
	"sort"
	"time"

	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
)

// RoleExpiry is when one role's metadata expires.
type RoleExpiry struct {
	Role     string    `json:"role"` // root, targets, or a delegation (targets/releases)
	Version  int       `json:"version"`
	Expires  time.Time `json:"expires"`
	DaysLeft float64   `json:"days_left"`
}

// Kind is "root", "targets" or "delegation".
func (r RoleExpiry) Kind() string {
	switch r.Role {
	case data.CanonicalRootRole.String(), data.CanonicalTargetsRole.String():
		return r.Role
	}
	return "delegation"
}

// expiries lists root, targets and every delegation notary's client
// loaded, in that order (delegations by name).
func expiries(repo *tuf.Repo, now time.Time) []RoleExpiry {
	mk := func(role string, version int, exp time.Time) RoleExpiry {
		return RoleExpiry{Role: role, Version: version, Expires: exp.UTC(), DaysLeft: math.Round(exp.Sub(now).Hours()/24*100) / 100}
	}
	var out []RoleExpiry
	if repo.Root != nil {
		out = append(out, mk("root", repo.Root.Signed.Version, repo.Root.Signed.Expires))
	}
	if t := repo.Targets[data.CanonicalTargetsRole]; t != nil {
		out = append(out, mk("targets", t.Signed.Version, t.Signed.Expires))
	}
	var dels []RoleExpiry
	for name, t := range repo.Targets {
		if name == data.CanonicalTargetsRole || t == nil {
			continue
		}
		dels = append(dels, mk(name.String(), t.Signed.Version, t.Signed.Expires))
	}
	sort.Slice(dels, func(i, j int) bool { return dels[i].Role < dels[j].Role })
	return append(out, dels...)
}

// ExpiringError is a status check that found roles expiring inside the
// window asked for.
type ExpiringError struct {
	Window   time.Duration
	Expiring map[string][]RoleExpiry // by GUN
}

func (e *ExpiringError) Error() string {
	n := 0
	for _, r := range e.Expiring {
		n += len(r)
	}
	guns := make([]string, 0, len(e.Expiring))
	for g := range e.Expiring {
		guns = append(guns, g)
	}
	sort.Strings(guns)
	s := ""
	for i, g := range guns {
		if i > 0 {
			s += "; "
		}
		s += g + ":"
		for _, r := range e.Expiring[g] {
			s += " " + r.Role + " (" + r.Expires.Format("2006-01-02") + ")"
		}
	}
	return sprintf("%d roles expire within %d days: %s", n, int(e.Window.Hours()/24), s)
}

// CheckExpiries returns an *ExpiringError naming every root, targets and
// delegation that expires within window of now, nil when none does.
func CheckExpiries(st []RepoStatus, window time.Duration) error {
	e := &ExpiringError{Window: window, Expiring: map[string][]RoleExpiry{}}
	days := window.Hours() / 24
	for _, s := range st {
		for _, r := range s.Expiries {
			if r.DaysLeft < days {
				e.Expiring[s.GUN] = append(e.Expiring[s.GUN], r)
			}
		}
	}
	if len(e.Expiring) == 0 {
		return nil
	}
	return e
}
