package main

import (
	"crypto"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/internal/testenv"
	"github.com/keyrite/keyrite/recovery"
	"github.com/keyrite/keyrite/trust"
	"github.com/theupdateframework/notary/tuf/data"
)

// signerKey makes a docker signer key as CI would, with docker trust key
// generate in a docker config of its own (which then holds only that
// key), and returns the private key file docker wrote.
func (s *story) signerKey(name, config string) string {
	s.t.Helper()
	os.MkdirAll(config, 0o700)
	gen := exec.Command("docker", "trust", "key", "generate", name, "--dir", s.dir)
	gen.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + config, "DOCKER_CONFIG=" + config, "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=" + ciPass}
	if out, err := gen.CombinedOutput(); err != nil {
		s.t.Fatalf("docker trust key generate %s: %v\n%s", name, err, out)
	}
	keys, _ := filepath.Glob(filepath.Join(config, "trust", "private", "*.key"))
	if len(keys) != 1 {
		s.t.Fatalf("docker trust key generate %s: private keys %v", name, keys)
	}
	return keys[0]
}

// signAs publishes a tag into targets/releases and targets/NAME with the
// notary CLI holding only the keys of one docker config, as docker trust
// sign does; it returns the error the CLI reports.
func (s *story) signAs(config, signer, tag string) error {
	file := s.path(tag + ".txt")
	os.WriteFile(file, []byte("image "+tag), 0o644)
	env := []string{"NOTARY_DELEGATION_PASSPHRASE=" + ciPass}
	for _, args := range [][]string{{"add", s.gun, tag, file, "--roles", "targets/releases", "--roles", "targets/" + signer}, {"publish", s.gun}} {
		if out, stderr, err := s.srv.NotaryCLIEnv(env, filepath.Join(config, "trust"), args...); err != nil {
			return &cliError{args: args, out: out + stderr, err: err}
		}
	}
	return nil
}

type cliError struct {
	args []string
	out  string
	err  error
}

func (e *cliError) Error() string {
	return strings.Join(e.args, " ") + ": " + e.err.Error() + "\n" + e.out
}

// listed fails the test unless the notary CLI with trustDir lists exactly
// the tags want among the tags named in all.
func (s *story) listed(trustDir, when string, want []string, all ...string) {
	s.t.Helper()
	out := s.notaryList(trustDir)
	for _, tag := range all {
		has := slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool { f := strings.Fields(l); return len(f) > 0 && f[0] == tag })
		if has != slices.Contains(want, tag) {
			s.t.Fatalf("%s: notary lists tag %s: %v, want %v:\n%s", when, tag, has, !has, out)
		}
	}
}

// TestIncidentSigner is issue 13's story: a CI signer key leaks, the
// attacker signs a tag with it, and the incident is handled offline.
func TestIncidentSigner(t *testing.T) {
	s := &story{t: t, h: testenv.NewSoftHSM(t, "ceremony"), srv: testenv.StartNotaryServer(t), dir: t.TempDir(),
		gun: "registry.example.com/incident/app"}
	s.trust, s.docker, s.ci = s.path("trust"), s.path("docker"), s.path("ci-docker")
	root := s.key("root")
	var init ceremony.InitResult
	json.Unmarshal([]byte(s.keyrite("init", "--in", s.fetch(), "-o", s.path("s1"), "--root-key", root, "--json", s.gun)), &init)
	targets := init.Repos[0].TargetsKeyURI
	s.publish(s.path("s1"))
	ciKey := s.signerKey("ci", s.ci)
	s.keyrite("signer", "add", "--in", s.fetch(), "-o", s.path("s2"), "--targets-key", targets, s.gun, "ci", "--key", s.path("ci.pub"))
	s.publish(s.path("s2"))

	// CI signs v1 and v2; the clients cache that trust.
	for _, tag := range []string{"v1", "v2"} {
		if err := s.signAs(s.ci, "ci", tag); err != nil {
			t.Fatal(err)
		}
	}
	s.listed(s.trust, "before the incident", []string{"v1", "v2"}, "v1", "v2", "evil")
	s.inspect()
	// The attacker, holding the leaked key, signs evil.
	if err := s.signAs(s.ci, "ci", "evil"); err != nil {
		t.Fatal(err)
	}
	s.listed(s.trust, "after the attack", []string{"v1", "v2", "evil"}, "v1", "v2", "evil")

	newCI := s.path("ci2-docker")
	newKey := s.signerKey("ci2", newCI)
	pass := s.path("pass")
	os.WriteFile(pass, []byte(ciPass+"\n"), 0o600)
	req := s.fetch()
	incident := func(out string, extra ...string) []string {
		return append([]string{"incident", "signer", "--in", req, "-o", out, "--targets-key", targets, "--signer", "ci",
			"--new-signer-key", newKey, "--signer-passphrase-file", pass, "--confirm", "incident ci"}, append(extra, s.gun)...)
	}
	// The request bundle carries every delegation role, as fetch brings them.
	if r, _ := bundle.ReadRequest(req); !slices.Contains(mustRepo(t, r, s.gun).Metadata, "targets/releases") || r.Metadata(s.gun, "targets/ci") == nil {
		t.Fatalf("fetch did not bring the delegation roles: %v", mustRepo(t, r, s.gun).Metadata)
	}

	// Refusals, each before anything is signed or written.
	s.keyriteFails(exitFailed, `no signer "nobody"`, s.path("r-nobody"), append(incident(s.path("r-nobody")), "--signer", "nobody")...)
	s.keyriteFails(exitFailed, "not among the tags", s.path("r-keep"), incident(s.path("r-keep"), "--keep", "v1", "--keep", "v9")...)
	s.keyriteFails(exitFailed, "not confirmed", s.path("r-confirm"), append(incident(s.path("r-confirm")), "--confirm", "yes")...)
	loose := s.path("loose.key")
	b, _ := os.ReadFile(newKey)
	os.WriteFile(loose, b, 0o644)
	s.keyriteFails(exitFailed, "chmod 600", s.path("r-loose"), append(incident(s.path("r-loose")), "--new-signer-key", loose)...)
	att := &attacker{t: t}
	stripped := att.doctor(req, s.path("req-stripped"), func(f bundle.Files) {
		delete(f, bundle.RepoFile(s.gun, "targets/releases.json"))
		delete(f, bundle.RepoFile(s.gun, "targets/ci.json"))
		var info bundle.RequestInfo
		json.Unmarshal(f[bundle.RequestInfoName], &info)
		info.Repos[0].Metadata = slices.DeleteFunc(info.Repos[0].Metadata, func(r string) bool { return strings.HasPrefix(r, "targets/") })
		f[bundle.RequestInfoName], _ = json.Marshal(info)
	})
	s.keyriteFails(exitVerifyKO, "does not carry targets/", s.path("r-stripped"), append(incident(s.path("r-stripped")), "--in", stripped)...)
	// The online machine holds the leaked key too: it re-signs
	// targets/releases with a tag of its own, validly, and rebuilds the
	// manifest. The server's snapshot does not list that file.
	ciSigner, err := recovery.SignerKeyFile{Path: ciKey, Passphrase: func(string) ([]byte, error) { return []byte(ciPass), nil }}.Open()
	if err != nil {
		t.Fatal(err)
	}
	doctored := att.doctor(req, s.path("req-doctored"), func(f bundle.Files) {
		p := bundle.RepoFile(s.gun, "targets/releases.json")
		f[p] = resignWithTag(t, f[p], ciSigner, "planted")
	})
	s.keyriteFails(exitVerifyKO, "targets/releases", s.path("r-doctored"), append(incident(s.path("r-doctored")), "--in", doctored)...)
	// revoke: the targets key alone cannot meet targets/releases' threshold.
	s.keyriteFails(exitFailed, "missing key IDs", s.path("r-revoke"), "revoke", "--in", req, "-o", s.path("r-revoke"), "--key", targets,
		"--confirm", "revoke", s.gun+":v1")

	// The incident: evil dropped, v1 and v2 kept and re-signed by the new key.
	var res recovery.IncidentResult
	if err := json.Unmarshal([]byte(s.keyrite(incident(s.path("s3"), "--keep", "v1", "--keep", "v2", "--json")...)), &res); err != nil {
		t.Fatal(err)
	}
	inc := res.Incident[0]
	if !res.Complete || tagSet(inc.Dropped) != "evil@targets/ci,evil@targets/releases" ||
		tagSet(inc.Kept) != "v1@targets/ci,v1@targets/releases,v2@targets/ci,v2@targets/releases" {
		t.Fatalf("incident: complete %v, dropped %s, kept %s", res.Complete, tagSet(inc.Dropped), tagSet(inc.Kept))
	}
	if d := inc.Dropped[0]; len(d.Digest) != 64 || d.Size != int64(len("image evil")) || d.Version < 1 {
		t.Fatalf("incident: the dropped tag is not described: %+v", d)
	}
	checkIncidentTranscript(t, s.path("s3"), inc)
	s.keyrite("verify", s.path("s3"))
	// The signed bundle doctored on its way out: targets/releases re-signed
	// by the leaked key (no longer listed), or by the new key with a tag
	// added (not the file the transcript records), is refused.
	newSigner, err := recovery.SignerKeyFile{Path: newKey, Passphrase: func(string) ([]byte, error) { return []byte(ciPass), nil }}.Open()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		key  crypto.Signer
		want string
	}{{"leaked", ciSigner, "altered: signed by key(s)"}, {"planted", newSigner, "targets/releases.json is not the file the transcript records"}} {
		forged := doctorSigned(t, s.path("s3"), s.path("s3-"+c.name), func(f bundle.Files) {
			p := bundle.RepoFile(s.gun, "targets/releases.json")
			f[p] = resignWithTag(t, f[p], c.key, "planted")
		})
		s.keyriteFails(exitVerifyKO, c.want, "", "verify", forged)
		s.keyriteFails(exitVerifyKO, c.want, "", "publish", "--server", s.srv.URL, "--tls-ca", s.srv.CAFile, forged)
	}
	// keyrite diff shows the tags the upload drops.
	var diff struct {
		Diff []bundle.RepoDiff `json:"diff"`
	}
	json.Unmarshal([]byte(s.keyrite("diff", s.path("s3"), "--server", s.srv.URL, "--tls-ca", s.srv.CAFile, "--json")), &diff)
	if !slices.ContainsFunc(diff.Diff[0].Changes, func(c bundle.Change) bool {
		return c.Role == "targets/releases" && c.Field == "tags" && slices.Equal(c.Removed, []string{"evil"}) && len(c.Added) == 0
	}) {
		t.Fatalf("keyrite diff does not show evil removed from targets/releases: %+v", diff)
	}
	s.publish(s.path("s3"))

	// Clients with caches from before the incident: v1 and v2, not evil,
	// and the new signer key.
	s.listed(s.trust, "after the incident", []string{"v1", "v2"}, "v1", "v2", "evil")
	out := s.inspect()
	tags := testenv.ParseDockerSignedTags(out)
	if _, ok := tags["evil"]; ok || len(tags) != 2 {
		t.Fatalf("docker after the incident:\n%s", out)
	}
	if ids := testenv.ParseDockerSigners(out)["ci"]; !slices.Equal(ids, []string{trust.ShortID(inc.NewKeyID)}) {
		t.Fatalf("docker shows signer ci with keys %v, want the new key %s:\n%s", ids, trust.ShortID(inc.NewKeyID), out)
	}
	// The leaked key no longer signs anything; the new CI key signs v3.
	if err := s.signAs(s.ci, "ci", "evil2"); err == nil {
		t.Fatal("the leaked key could still publish a tag")
	}
	if err := s.signAs(newCI, "ci", "v3"); err != nil {
		t.Fatal(err)
	}
	s.listed(s.trust, "after v3", []string{"v1", "v2", "v3"}, "v1", "v2", "v3", "evil", "evil2")

	// revoke v2, signing with the new signer key file.
	req = s.fetch()
	var rev recovery.IncidentResult
	json.Unmarshal([]byte(s.keyrite("revoke", "--in", req, "-o", s.path("s4"), "--signer-key", newKey, "--signer-passphrase-file", pass,
		"--confirm", "revoke", "--json", s.gun+":v2")), &rev)
	if tagSet(rev.Incident[0].Dropped) != "v2@targets/ci,v2@targets/releases" {
		t.Fatalf("revoke: %s", tagSet(rev.Incident[0].Dropped))
	}
	s.publish(s.path("s4"))
	s.listed(s.trust, "after revoke", []string{"v1", "v3"}, "v1", "v2", "v3")

	// The targets key leaks: rotate it with the delegations present.
	targets2 := s.key("targets2")
	req = s.fetch()
	var rot recovery.IncidentResult
	json.Unmarshal([]byte(s.keyrite("incident", "targets", "--in", req, "-o", s.path("s5"), "--root-key", root, "--new-targets-key", targets2,
		"--since", "2000-01-01", "--confirm", "rotate targets", "--json", s.gun)), &rot)
	if !rot.Complete || len(rot.Incident[0].Review) != 3 || rot.Repos[0].TargetsKeyID == init.Repos[0].TargetsKeyID {
		t.Fatalf("incident targets: %+v", rot)
	}
	s.publish(s.path("s5"))
	s.listed(s.trust, "after the targets key's rotation", []string{"v1", "v3"}, "v1", "v2", "v3")
	if got, _ := testenv.ParseDockerRepositoryKey(s.inspect()); got == init.Repos[0].TargetsKeyID {
		t.Fatalf("docker still shows the leaked repository key %s", got)
	}
	if err := s.signAs(newCI, "ci", "v4"); err != nil {
		t.Fatal(err)
	}
	s.listed(s.trust, "after v4", []string{"v1", "v3", "v4"}, "v1", "v3", "v4")
}

func mustRepo(t *testing.T, r *bundle.Request, gun string) bundle.RequestRepo {
	t.Helper()
	repo, ok := r.Repo(gun)
	if !ok {
		t.Fatalf("%s not in the request", gun)
	}
	return repo
}

// tagSet is "name@role" of each record, sorted and joined.
func tagSet(recs []trust.TagRecord) string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Name+"@"+r.Role)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// checkIncidentTranscript finds the incident in the signed bundle's
// transcript: signer, key IDs, tags dropped and kept.
func checkIncidentTranscript(t *testing.T, dir string, inc recovery.IncidentRepo) {
	t.Helper()
	for _, e := range transcriptOf(t, dir) {
		if e.Event != "repo.incident-signer" {
			continue
		}
		var ev struct {
			Signer      string            `json:"signer"`
			Compromised []string          `json:"compromised_key_ids"`
			NewKeyID    string            `json:"new_key_id"`
			Dropped     []trust.TagRecord `json:"tags_dropped"`
			Kept        []trust.TagRecord `json:"tags_kept"`
		}
		json.Unmarshal(e.Data, &ev)
		if ev.Signer != "ci" || !slices.Equal(ev.Compromised, inc.CompromisedKeyIDs) || ev.NewKeyID != inc.NewKeyID ||
			tagSet(ev.Dropped) != tagSet(inc.Dropped) || tagSet(ev.Kept) != tagSet(inc.Kept) {
			t.Fatalf("the transcript's incident: %s", e.Data)
		}
		return
	}
	t.Fatal("the transcript records no incident")
}

// resignWithTag adds a tag to delegation metadata and signs it again with
// key alone, as an attacker holding the leaked key can.
func resignWithTag(t *testing.T, raw []byte, key crypto.Signer, tag string) []byte {
	t.Helper()
	var st data.SignedTargets
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	meta, err := data.NewFileMeta(strings.NewReader("planted image"), data.NotaryDefaultHashes...)
	if err != nil {
		t.Fatal(err)
	}
	st.Signed.Targets[tag] = meta
	st.Signatures = nil
	ks := trust.NewKeyService()
	pub, err := ks.Add(key, "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := trust.SignedTargetsBytes(ks, &st, []data.PublicKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// doctorSigned copies a signed bundle with edit applied and its manifest
// rebuilt, as the online machine can.
func doctorSigned(t *testing.T, from, to string, edit func(bundle.Files)) string {
	t.Helper()
	files, err := bundle.Read(from, bundle.KindSigned)
	if err != nil {
		t.Fatal(err)
	}
	edit(files)
	if err := bundle.Write(to, bundle.KindSigned, files); err != nil {
		t.Fatal(err)
	}
	return to
}
