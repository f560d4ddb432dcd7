package benchtable

import (
	"fmt"
	"slices"
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
		t.publishRow(srv, proxy, 1000).print()
	}
	if slices.Contains(rows, "loop") {
		for _, shared := range []bool{false, true} {
			t.loopRow(srv, 100, shared).print()
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
		signed, gs := t.signedFor(proxy.URL, srv.CAFile, "publish-"+bd.name, n)
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

// loopRow: fetch + init + publish of n new GUNs with keyrite (per-GUN
// targets keys on SoftHSM, or one shared), against the notary CLI doing
// init and publish of each GUN in turn with its software keys.
func (t *table) loopRow(srv *testenv.NotaryServer, n int, shared bool) row {
	r := row{what: "fetch+init+publish, per-GUN targets keys", n: n, baseName: "notary CLI loop"}
	if shared {
		r.what = "fetch+init+publish, shared targets key"
	}
	gs := guns(fmt.Sprintf("notary-cli-%v", shared), n)
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
		gs := guns(fmt.Sprintf("loop-%s-%v", bd.name, shared), n)
		dev := t.device(bd, home, shared)
		req, out := t.path("request"), t.path("signed")
		server := []string{"--server", srv.URL, "--tls-ca", srv.CAFile}
		var m measured
		for _, args := range [][]string{
			append(append(append([]string{"fetch"}, server...), "-o", req), gs...),
			append(append([]string{"init", "--in", req, "-o", out}, dev...), gs...),
			append(append([]string{"publish"}, server...), out),
		} {
			step := exe(t.b, home, bd.keyrite, args...)
			m.d += step.d
			m.rss = max(m.rss, step.rss)
		}
		if bd.name == "before" {
			r.before = &m
		} else {
			r.after = m
		}
	}
	return r
}
