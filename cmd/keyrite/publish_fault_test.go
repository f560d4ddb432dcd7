package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/internal/testenv"
	"github.com/keyrite/keyrite/internal/testenv/faultproxy"
)

// TestPublishUnderFaults publishes 200 new GUNs through a proxy that
// fails 20% of the requests (5xx without reaching notary-server, resets
// after the server handled the request, answers stalled past --timeout),
// and every request of ten GUNs in the first run. Every GUN's outcome is
// reported (those ten failed, with the reason); no GUN is half there
// (root.json and targets.json on the server both the bundle's, or both
// absent); running publish again, still under faults, converges: every
// GUN published, those reported as published before now reported as
// already published.
func TestPublishUnderFaults(t *testing.T) {
	const n, rate = 200, 0.2
	h := testenv.NewSoftHSM(t, "ceremony")
	srv := testenv.StartNotaryServer(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("fault seed %d", seed)
	proxy, err := faultproxy.Start(srv.URL, srv.CAFile, seed, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	dir := t.TempDir()
	secrets := []string{"--pin-file", h.PINFile, "--module", h.Module}
	for _, l := range []string{"root", "targets"} {
		mustKeyrite(t, append([]string{"key", "generate", "--device", "pkcs11:token=ceremony", "--label", l}, secrets...)...)
	}
	var guns []string
	for i := range n {
		guns = append(guns, fmt.Sprintf("localhost:5000/faults/app%03d", i))
	}
	// The request bundle is fetched without faults: a server key request
	// is never repeated (each makes the server generate a new key).
	mustKeyrite(t, append([]string{"fetch", "--server", proxy.URL, "-o", filepath.Join(dir, "request"), "--concurrency", "8"}, guns...)...)
	signed := filepath.Join(dir, "signed")
	mustKeyrite(t, append(append([]string{"init", "--in", filepath.Join(dir, "request"), "-o", signed,
		"--root-key", "pkcs11:token=ceremony;object=root", "--targets-key", "pkcs11:token=ceremony;object=targets"}, secrets...), guns...)...)
	b, err := bundle.ReadSigned(signed)
	if err != nil {
		t.Fatal(err)
	}

	proxy.SetRate(rate)
	proxy.Break(guns[:10]...)
	publish := func() map[string]bundle.PublishResult {
		out, stderr, code := runKeyrite(t, "publish", "--server", proxy.URL, "--timeout", "1s", "--concurrency", "8", "--json", signed)
		// Success prints {"published": […]}; failure {"error", "hint",
		// "exit_code", "report": {"published": […]}}.
		var res struct {
			Published []bundle.PublishResult `json:"published"`
			Error     string                 `json:"error"`
			Report    struct {
				Published []bundle.PublishResult `json:"published"`
			} `json:"report"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("publish exit %d, output not JSON: %v\n%s\n%s", code, err, out, stderr)
		}
		if code != 0 {
			res.Published = res.Report.Published
			if !strings.Contains(res.Error, "publish the same bundle again") {
				t.Errorf("publish exit %d: %s", code, res.Error)
			}
		}
		byGUN := map[string]bundle.PublishResult{}
		failed := 0
		for _, r := range res.Published {
			byGUN[r.GUN] = r
			switch r.Outcome {
			case bundle.OutcomePublished, bundle.OutcomeAlready:
			case bundle.OutcomeFailed:
				failed++
				if r.Error == "" {
					t.Errorf("%s failed without a reason", r.GUN)
				}
			default:
				t.Errorf("%s: outcome %q", r.GUN, r.Outcome)
			}
		}
		if len(byGUN) != n {
			t.Fatalf("publish reported %d GUNs, want %d\n%s", len(byGUN), n, stderr)
		}
		if (failed > 0) != (code != 0) {
			t.Errorf("publish exit %d with %d failed GUNs\n%s", code, failed, stderr)
		}
		t.Logf("publish: %d failed, exit %d", failed, code)
		return byGUN
	}
	first := publish()
	counts, total := proxy.Counts()
	t.Logf("faults after the first publish: %v of %d requests", counts, total)
	if counts[faultproxy.Status] == 0 || counts[faultproxy.Reset] == 0 || counts[faultproxy.Stalled] == 0 {
		t.Errorf("the proxy did not inject every kind of fault: %v", counts)
	}
	for _, gun := range guns[:10] {
		if r := first[gun]; r.Outcome != bundle.OutcomeFailed || !strings.Contains(r.Error, "injected fault") {
			t.Errorf("%s, every request refused: %+v", gun, r)
		}
	}
	checkWhole(t, srv, b, guns)

	proxy.Break()
	var last map[string]bundle.PublishResult
	for range 4 {
		last = publish()
		if allOK(last) {
			break
		}
	}
	if !allOK(last) {
		t.Fatal("publish did not converge in four runs under faults")
	}
	for gun, r := range first {
		if r.Outcome == bundle.OutcomePublished && last[gun].Outcome != bundle.OutcomeAlready {
			t.Errorf("%s: published in the first run, %q in the last", gun, last[gun].Outcome)
		}
	}
	checkWhole(t, srv, b, guns)
	for _, gun := range guns {
		if !onServer(t, srv, gun, "root.json", b.RepoMetadata(gun, "root")) {
			t.Errorf("%s: not on the server after publish converged", gun)
		}
	}
}

func allOK(rs map[string]bundle.PublishResult) bool {
	for _, r := range rs {
		if r.Outcome == bundle.OutcomeFailed {
			return false
		}
	}
	return true
}

// checkWhole reads every GUN straight from notary-server: root.json and
// targets.json are both the bundle's, or both absent.
func checkWhole(t *testing.T, srv *testenv.NotaryServer, b *bundle.Signed, guns []string) {
	t.Helper()
	for _, gun := range guns {
		root := onServer(t, srv, gun, "root.json", b.RepoMetadata(gun, "root"))
		targets := onServer(t, srv, gun, "targets.json", b.RepoMetadata(gun, "targets"))
		if root != targets {
			t.Errorf("%s is half published: root.json there %v, targets.json there %v", gun, root, targets)
		}
	}
}

// onServer says whether notary-server serves want for a GUN's file, and
// fails the test if it serves something else.
func onServer(t *testing.T, srv *testenv.NotaryServer, gun, file string, want []byte) bool {
	c, err := srv.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(srv.URL + "/v2/" + gun + "/_trust/tuf/" + file)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return false
	case resp.StatusCode != http.StatusOK:
		t.Fatalf("%s %s: %s", gun, file, resp.Status)
	case !bytes.Equal(body, want):
		t.Errorf("%s: the server's %s is not the bundle's", gun, file)
	}
	return true
}
