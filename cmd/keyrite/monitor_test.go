package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/internal/testenv"
)

// TestMonitoringAndDiff: status --warn exits 1 exactly when a root,
// targets or delegation expires inside the window, --format prometheus
// writes a valid textfile, and diff / publish --dry-run show a root
// rotation and a signer removal against the live server without changing
// it.
func TestMonitoringAndDiff(t *testing.T) {
	s := &story{t: t, h: testenv.NewSoftHSM(t, "ceremony"), srv: testenv.StartNotaryServer(t), dir: t.TempDir(),
		gun: "registry.example.com/monitor/app"}
	s.ci = s.path("ci-docker")
	root1 := s.key("root1")
	req := s.fetch()
	var init ceremony.InitResult
	json.Unmarshal([]byte(s.keyrite("init", "--in", req, "-o", s.path("s1"), "--root-key", root1, "--targets-expiry", "20d", "--json", s.gun)), &init)
	targets1 := init.Repos[0].TargetsKeyURI
	s.publish(s.path("s1"))

	// A docker signer, so that delegations exist (notary gives them 3 years).
	os.MkdirAll(s.ci, 0o700)
	gen := exec.Command("docker", "trust", "key", "generate", "ci", "--dir", s.dir)
	gen.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.ci, "DOCKER_CONFIG=" + s.ci, "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=" + ciPass}
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("docker trust key generate: %v\n%s", err, out)
	}
	req = s.fetch()
	s.keyrite("signer", "add", "--in", req, "-o", s.path("s2"), "--targets-key", targets1, s.gun, "ci", "--key", s.path("ci.pub"))
	s.publish(s.path("s2"))
	s.ciSign("v1")

	status := func(args ...string) (string, string, int) {
		return runKeyrite(t, append(append([]string{"status", "--server", s.srv.URL, "--tls-ca", s.srv.CAFile}, args...), s.gun)...)
	}
	for _, c := range []struct {
		warn       string
		code       int
		want, deny []string
	}{
		{"10d", exitOK, nil, nil},
		{"30d", exitFailed, []string{"targets ("}, []string{"root (", "targets/releases", "targets/ci"}},
		{"1200d", exitFailed, []string{"targets (", "targets/releases (", "targets/ci ("}, []string{"root ("}},
		{"4000d", exitFailed, []string{"root (", "targets (", "targets/releases ("}, nil},
	} {
		stdout, stderr, code := status("--warn", c.warn)
		if code != c.code || !strings.Contains(stdout, "TARGETS EXPIRES") || !strings.Contains(stdout, "DELEGATIONS EXPIRE") {
			t.Errorf("status --warn %s: exit %d, want %d\n%s%s", c.warn, code, c.code, stdout, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("status --warn %s: stderr lacks %q:\n%s", c.warn, w, stderr)
			}
		}
		for _, w := range c.deny {
			if strings.Contains(stderr, w) {
				t.Errorf("status --warn %s: stderr names %q:\n%s", c.warn, w, stderr)
			}
		}
	}
	stdout, _, code := status("--warn", "30d", "--json")
	var f struct {
		jsonFailure
		Report []bundle.RepoStatus `json:"report"`
	}
	if err := json.Unmarshal([]byte(stdout), &f); err != nil || code != exitFailed || f.ExitCode != exitFailed || len(f.Report) != 1 || len(f.Report[0].Expiries) != 4 {
		t.Errorf("status --warn --json: exit %d, %v\n%s", code, err, stdout)
	}

	// The textfile: HELP and TYPE once per metric before its samples, one
	// sample per GUN and role.
	prom := s.path("keyrite.prom")
	if _, stderr, code := status("--format", "prometheus", "-o", prom); code != exitOK {
		t.Fatalf("status --format prometheus: exit %d\n%s", code, stderr)
	}
	days := checkExposition(t, prom)
	want := map[string][2]float64{"root": {3640, 3651}, "targets": {19, 20.01}, "targets/releases": {1090, 1096}, "targets/ci": {1090, 1096}}
	for role, r := range want {
		v, ok := days[role]
		if !ok || v < r[0] || v > r[1] {
			t.Errorf("keyrite_notary_role_expiry_days{role=%q} = %v (present %v), want in %v", role, v, ok, r)
		}
	}

	// A root rotation: diff and publish --dry-run show it, change nothing.
	root2 := s.key("root2")
	req = s.fetch()
	s.keyrite("rotate", "root", "--in", req, "-o", s.path("s3"), "--root-key", root1, "--new-root-key", root2, s.gun)
	srv := []string{"--server", s.srv.URL, "--tls-ca", s.srv.CAFile}
	var d struct {
		Diff []bundle.RepoDiff `json:"diff"`
	}
	for _, args := range [][]string{{"diff", s.path("s3"), "--json"}, {"publish", "--dry-run", "--json", s.path("s3")}} {
		d.Diff = nil
		if err := json.Unmarshal([]byte(s.keyrite(append(args, srv...)...)), &d); err != nil || len(d.Diff) != 1 {
			t.Fatalf("%s: %v %+v", args[0], err, d)
		}
		ch := d.Diff[0].Changes
		if !hasChange(ch, "root", "version", "1", "2") || !hasKeyChange(ch, "root", "root keys", nil, init.Repos[0].RootKeyIDs) {
			t.Errorf("%s of a root rotation: %+v", args[0], ch)
		}
		for _, c := range ch {
			if c.Field == "root keys" && len(c.Added) != 1 {
				t.Errorf("%s: root keys added %v, want the new key", args[0], c.Added)
			}
			if c.Role == "targets" || strings.HasPrefix(c.Role, "targets/") {
				t.Errorf("%s: a root rotation changes %s %s", args[0], c.Role, c.Field)
			}
		}
	}
	if text := s.keyrite(append([]string{"diff", s.path("s3")}, srv...)...); !strings.Contains(text, "root keys") || !strings.Contains(text, "1 -> 2") {
		t.Errorf("diff text:\n%s", text)
	}
	if st := s.status(); st.RootVersion != 1 {
		t.Fatalf("diff or publish --dry-run changed the server: root v%d", st.RootVersion)
	}
	s.publish(s.path("s3"))

	// A signer removal.
	req = s.fetch()
	s.keyrite("signer", "remove", "--in", req, "-o", s.path("s4"), "--targets-key", targets1, "--force", s.gun, "ci")
	d.Diff = nil
	if err := json.Unmarshal([]byte(s.keyrite(append([]string{"diff", s.path("s4"), "--json"}, srv...)...)), &d); err != nil || len(d.Diff) != 1 {
		t.Fatalf("diff: %v", err)
	}
	ch := d.Diff[0].Changes
	removed := false
	for _, c := range ch {
		if c.Role == "root" && c.Field != "version" && c.Field != "expires" {
			t.Errorf("a signer removal changes root: %+v", c)
		}
		if (c.Role == "targets/ci" && c.Field == "delegation" && slices.Contains(c.Removed, "targets/ci")) ||
			(c.Role == "targets/releases" && c.Field == "keys" && len(c.Removed) == 1) {
			removed = true
		}
	}
	if !removed || !hasChange(ch, "targets", "version", "", "") {
		t.Errorf("diff of a signer removal: %+v", ch)
	}
}

func hasChange(ch []bundle.Change, role, field, from, to string) bool {
	for _, c := range ch {
		if c.Role == role && c.Field == field && (from == "" || c.From == from) && (to == "" || c.To == to) {
			return true
		}
	}
	return false
}

func hasKeyChange(ch []bundle.Change, role, field string, added, removed []string) bool {
	for _, c := range ch {
		if c.Role == role && c.Field == field && (added == nil || slices.Equal(c.Added, added)) && slices.Equal(c.Removed, removed) {
			return true
		}
	}
	return false
}

// checkExposition checks a Prometheus textfile line by line and returns
// keyrite_notary_role_expiry_days by role.
func checkExposition(t *testing.T, path string) map[string]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	help, typ := map[string]bool{}, map[string]bool{}
	days := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, _, _ := strings.Cut(rest, " ")
			if help[name] {
				t.Errorf("HELP for %s twice", name)
			}
			help[name] = true
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, kind, _ := strings.Cut(rest, " ")
			if !help[name] || typ[name] || kind != "gauge" {
				t.Errorf("TYPE line %q out of place", line)
			}
			typ[name] = true
			continue
		}
		name, rest, _ := strings.Cut(line, "{")
		if !strings.Contains(line, "{") {
			name, rest, _ = strings.Cut(line, " ")
		}
		if !typ[name] || !strings.HasPrefix(name, "keyrite_") {
			t.Errorf("sample %q before its TYPE line", line)
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Errorf("sample %q: %v", line, err)
		}
		if name == "keyrite_notary_role_expiry_days" {
			_, role, _ := strings.Cut(rest, `role="`)
			role, _, _ = strings.Cut(role, `"`)
			days[role] = v
		}
	}
	return days
}
