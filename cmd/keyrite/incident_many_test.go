package main

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/keyrite/keyrite/internal/testenv"
	"github.com/keyrite/keyrite/recovery"
)

// TestIncidentManyRepositories runs the incident paths on two
// repositories at once: the leaked CI key is replaced by a recovery key on
// the ceremony's device (not a key file), and revoke removes a tag from
// both, signed by that device key.
func TestIncidentManyRepositories(t *testing.T) {
	s := &story{t: t, h: testenv.NewSoftHSM(t, "ceremony"), srv: testenv.StartNotaryServer(t), dir: t.TempDir()}
	guns := []string{"registry.example.com/many/a", "registry.example.com/many/b"}
	s.trust, s.ci = s.path("trust"), s.path("ci-docker")
	root, targets := s.key("root"), s.key("targets")
	fetch := func(name string) string {
		out := s.path(name)
		s.keyrite(append([]string{"fetch", "--server", s.srv.URL, "--tls-ca", s.srv.CAFile, "-o", out}, guns...)...)
		return out
	}
	s.keyrite(append([]string{"init", "--in", fetch("req1"), "-o", s.path("s1"), "--root-key", root,
		"--targets-key", targets}, guns...)...)
	s.publish(s.path("s1"))
	s.signerKey("ci", s.ci)
	for _, gun := range guns {
		s.keyrite("signer", "add", "--in", fetch("req2-"+gun[len(gun)-1:]), "-o", s.path("s2-"+gun[len(gun)-1:]), "--targets-key", targets, gun, "ci", "--key", s.path("ci.pub"))
		s.publish(s.path("s2-" + gun[len(gun)-1:]))
	}
	for _, gun := range guns {
		s.gun = gun
		for _, tag := range []string{"v1", "v2", "evil"} {
			if err := s.signAs(s.ci, "ci", tag); err != nil {
				t.Fatal(err)
			}
		}
		s.listed(s.trust, gun+" before", []string{"v1", "v2", "evil"}, "v1", "v2", "evil")
	}

	recoveryKey := s.key("ci-recovery")
	req := fetch("req3")
	var res recovery.IncidentResult
	json.Unmarshal([]byte(s.keyrite(append([]string{"incident", "signer", "--in", req, "-o", s.path("s3"), "--targets-key", targets, "--signer", "ci",
		"--recovery-key", recoveryKey, "--keep", "v1", "--keep", "v2", "--confirm", "incident ci", "--json"}, guns...)...)), &res)
	if !res.Complete || len(res.Incident) != 2 {
		t.Fatalf("incident on two repositories: %+v", res)
	}
	for _, inc := range res.Incident {
		if tagSet(inc.Dropped) != "evil@targets/ci,evil@targets/releases" || len(inc.Kept) != 4 {
			t.Fatalf("%s: dropped %s, kept %s", inc.GUN, tagSet(inc.Dropped), tagSet(inc.Kept))
		}
	}
	s.publish(s.path("s3"))
	for _, gun := range guns {
		s.gun = gun
		s.listed(s.trust, gun+" after the incident", []string{"v1", "v2"}, "v1", "v2", "evil")
	}

	// revoke v2 in both, signed by the recovery key on the device.
	req = fetch("req4")
	// A tag one repository lacks refuses the whole run.
	s.keyriteFails(exitFailed, "no role holds tag(s) v9", s.path("s4"), "revoke", "--in", req, "-o", s.path("s4"), "--key", recoveryKey,
		"--confirm", "revoke", guns[0]+":v2", guns[1]+":v9")
	var rev recovery.IncidentResult
	json.Unmarshal([]byte(s.keyrite("revoke", "--in", req, "-o", s.path("s4"), "--key", recoveryKey, "--confirm", "revoke", "--json",
		guns[0]+":v2", guns[1]+":v2")), &rev)
	if !rev.Complete || len(rev.Incident) != 2 || !slices.Equal(rev.Incident[1].Resigned, []string{"targets/ci", "targets/releases"}) {
		t.Fatalf("revoke in two repositories: %+v", rev)
	}
	s.publish(s.path("s4"))
	for _, gun := range guns {
		s.gun = gun
		s.listed(s.trust, gun+" after revoke", []string{"v1"}, "v1", "v2", "evil")
	}

	// The targets key leaks where root is 2-of-2: incident targets signed
	// by one holder, completed by the other with keyrite sign, which
	// carries the re-signed delegation roles.
	hA, hB := s.key("holder-a"), s.key("holder-b")
	s.keyrite(append([]string{"rotate", "root", "--in", fetch("req5"), "-o", s.path("s5"), "--root-key", root, "--new-root-key", hA,
		"--new-root-key", hB, "--threshold", "2"}, guns...)...)
	s.publish(s.path("s5"))
	targets2 := s.key("targets-2")
	var rot recovery.IncidentResult
	json.Unmarshal([]byte(s.keyrite(append([]string{"incident", "targets", "--in", fetch("req6"), "-o", s.path("s6a"), "--root-key", hA,
		"--new-targets-key", targets2, "--confirm", "rotate targets", "--json"}, guns...)...)), &rot)
	if rot.Complete || len(rot.Incident) != 2 || len(rot.Incident[0].Review) != 3 {
		t.Fatalf("incident targets by one of two holders: %+v", rot)
	}
	s.keyrite("sign", s.path("s6a"), "--key", hB, "-o", s.path("s6b"))
	s.publish(s.path("s6b"))
	for _, gun := range guns {
		s.gun = gun
		s.listed(s.trust, gun+" after the targets key's rotation", []string{"v1"}, "v1", "v2", "evil")
		if err := s.signAs(s.ci, "ci", "evil3"); err == nil {
			t.Fatalf("%s: the leaked CI key publishes again", gun)
		}
	}
}
