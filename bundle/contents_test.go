package bundle

import (
	"fmt"
	"strings"
	"testing"
)

// A request bundle may carry delegation roles (fetch brings those the
// snapshot lists), each Targets metadata of a valid delegation name;
// anything else it lists is refused as it is read.
func TestRequestDelegationRoles(t *testing.T) {
	vs := variants(t)
	meta := func(typ string) []byte {
		return []byte(fmt.Sprintf(`{"signed":{"_type":%q,"version":2},"signatures":[{"keyid":"k","method":"ecdsa","sig":"c2ln"}]}`, typ))
	}
	const gun = "example.com/app"
	for _, c := range []struct {
		name, role, typ, want string
	}{
		{"a delegation role", "targets/releases", "Targets", ""},
		{"a nested delegation role", "targets/team/ci", "Targets", ""},
		{"root metadata as a delegation", "targets/releases", "Root", `is "Root" metadata, not Targets`},
		{"not a delegation name", "targets/Releases", "Targets", `role "targets/Releases", which a request bundle does not carry`},
		{"not under targets", "releases", "Targets", `role "releases", which a request bundle does not carry`},
	} {
		info := fmt.Sprintf(`{"format":"keyrite-request/v1","server":"https://notary.example","fetched_at":"2026-01-01T00:00:00Z",`+
			`"repos":[{"gun":%q,"exists":true,"root_version":2,"metadata":["root","targets",%q]}]}`, gun, c.role)
		dir := t.TempDir() + "/req"
		if err := Write(dir, KindRequest, Files{RequestInfoName: []byte(info),
			RepoFile(gun, "timestamp.key"): vs[0].File, RepoFile(gun, "snapshot.key"): vs[1].File,
			RepoFile(gun, "root.json"): meta("Root"), RepoFile(gun, "targets.json"): meta("Targets"),
			RepoFile(gun, c.role+".json"): meta(c.typ)}); err != nil {
			t.Fatal(err)
		}
		r, err := ReadRequest(dir)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want == "" && r.Metadata(gun, "targets/releases") == nil && r.Metadata(gun, "targets/team/ci") == nil:
			t.Errorf("%s: the role is not read", c.name)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
	}
}
