package benchtable

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyrite/keyrite/internal/testenv"
	"github.com/keyrite/keyrite/internal/testenv/faultproxy"
)

// server runs the rows that need a notary-server: one server for all, and
// a proxy in front of it (faults off) that counts each GUN's requests.
func (t *table) server(rows []string) {
	srv := testenv.StartNotaryServer(t.b)
	proxy, err := faultproxy.Start(srv.URL, srv.CAFile, 1, time.Second)
	if err != nil {
		t.b.Fatal(err)
	}
	defer proxy.Close()
	if slices.Contains(rows, "publish") {
		t.repeated(func() row { return t.publishRow(srv, proxy, 1000) }).print()
	}
	if slices.Contains(rows, "loop") {
		for _, v := range []loopVariant{
			{what: "per-GUN targets keys", device: func(bd build, home string) []string { return t.device(bd, home, false) }},
			{what: "per-GUN targets keys, software token", device: t.softDevice},
			{what: "shared targets key", device: func(bd build, home string) []string { return t.device(bd, home, true) }},
			{what: "shared targets key, .tar bundles", device: func(bd build, home string) []string { return t.device(bd, home, true) }, suffix: ".tar"},
		} {
			t.repeated(func() row { return t.loopRow(srv, 100, v) }).print()
		}
	}
}

// signedFor fetches n new GUNs through url and signs them with the after
// build (shared targets key): a bundle to publish.
func (t *table) signedFor(url, ca, prefix string, n int) (string, []string) {
	after := t.builds[len(t.builds)-1]
	home := t.path("home")
	gs := guns(prefix, n)
	req, out := t.path("request"), t.path("signed")
	exe(t.b, home, after.keyrite, append([]string{"fetch", "--server", url, "--tls-ca", ca, "-o", req}, gs...)...)
	dev := t.device(after, home, true)
	exe(t.b, home, after.keyrite, append(append([]string{"init", "--in", req, "-o", out}, dev...), gs...)...)
	return out, gs
}

// publishRow: publish of n new GUNs, each build its own bundle, through
// the counting proxy. The row's baseline is the before build's time.
func (t *table) publishRow(srv *testenv.NotaryServer, proxy *faultproxy.Proxy, n int) row {
	r := row{what: "publish", n: n}
	var trips []string
	for _, bd := range t.builds {
		signed, gs := t.signedFor(proxy.URL, srv.CAFile, t.prefix("publish-"+bd.name), n)
		proxy.PerGUN() // reset
		m := exe(t.b, t.path("home"), bd.keyrite, "publish", "--server", proxy.URL, "--tls-ca", srv.CAFile, signed)
		per := proxy.PerGUN()
		most := 0
		for _, g := range gs {
			most = max(most, per[g])
		}
		trips = append(trips, fmt.Sprintf("%s: at most %d requests per GUN", bd.name, most))
		if bd.name == "before" {
			r.before = &m
		} else {
			r.after = m
		}
	}
	r.note = fmt.Sprint(trips)
	return r
}

// loopVariant is where keyrite's keys are for one loop row.
type loopVariant struct {
	what   string
	device func(bd build, home string) []string
	suffix string // ".tar": the request and signed bundles as one file each
}

// loopRow: fetch + init + publish of n new GUNs with keyrite (keys as the
// variant says), against the notary CLI doing init and publish of each GUN
// in turn with its software keys.
func (t *table) loopRow(srv *testenv.NotaryServer, n int, v loopVariant) row {
	r := row{what: "fetch+init+publish, " + v.what, n: n, baseName: "notary CLI loop"}
	slug := strings.ToLower(strings.NewReplacer(" ", "-", ",", "", ".", "").Replace(v.what))
	gs := guns(t.prefix("notary-cli-"+slug), n)
	trust := t.path("notary-trust")
	env := []string{"NOTARY_ROOT_PASSPHRASE=bench-passphrase", "NOTARY_TARGETS_PASSPHRASE=bench-passphrase", "NOTARY_SNAPSHOT_PASSPHRASE=bench-passphrase"}
	start := time.Now()
	for _, g := range gs {
		if _, stderr, err := srv.NotaryCLIEnv(env, trust, "init", g, "-p"); err != nil {
			t.b.Fatalf("notary init %s: %v\n%s", g, err, stderr)
		}
	}
	r.base = time.Since(start)
	for _, bd := range t.builds {
		home := t.path("home")
		gs := guns(t.prefix("loop-"+bd.name+"-"+slug), n)
		dev := v.device(bd, home)
		req, out := t.path("request")+v.suffix, t.path("signed")+v.suffix
		server := []string{"--server", srv.URL, "--tls-ca", srv.CAFile}
		var m measured
		var steps []string
		for _, args := range [][]string{
			append(append(append([]string{"fetch"}, server...), "-o", req), gs...),
			append(append([]string{"init", "--in", req, "-o", out}, dev...), gs...),
			append(append([]string{"publish"}, server...), out),
		} {
			step := exe(t.b, home, bd.keyrite, args...)
			steps = append(steps, args[0]+" "+secs(step.d))
			m.d += step.d
			m.rss = max(m.rss, step.rss)
		}
		if bd.name == "before" {
			r.before = &m
		} else {
			r.after = m
			r.note = "after: " + strings.Join(steps, ", ")
		}
	}
	return r
}
