package benchtable

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softkey"

	"github.com/keyrite/keyrite/internal/testenv"
	"github.com/keyrite/keyrite/internal/testenv/offline"
)

// BenchmarkTable prints the performance table. KEYRITE_BENCH_ROWS picks
// rows (init, shared, verify, publish, loop, rehearse; default all) and
// KEYRITE_BENCH_N the sizes of the per-GUN init row (default 10,100,1000);
// KEYRITE_BENCH_REPEAT measures each row that many times and keeps the
// medians (default 1; verify's row is always the median of three).
func BenchmarkTable(b *testing.B) {
	bs := builds(b)
	rows := strings.Split(envOr("KEYRITE_BENCH_ROWS", "init,shared,verify,publish,loop,rehearse"), ",")
	var sizes []int
	for _, s := range strings.Split(envOr("KEYRITE_BENCH_N", "10,100,1000"), ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		sizes = append(sizes, n)
	}
	for b.Loop() {
		fmt.Printf("\nkeyrite performance, %s, %d CPUs, load average %s\n\n", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), loadavg())
		printHeader()
		repeat, err := strconv.Atoi(envOr("KEYRITE_BENCH_REPEAT", "1"))
		if err != nil {
			b.Fatal(err)
		}
		t := &table{b: b, builds: bs, dir: b.TempDir(), repeat: repeat}
		if slices.Contains(rows, "init") {
			var perGUN []row
			for _, n := range sizes {
				r := t.repeated(func() row { return t.initRow(n, false, "") })
				r.print()
				perGUN = append(perGUN, r)
			}
			linearity(perGUN)
		}
		if slices.Contains(rows, "shared") {
			for _, n := range []int{100, 1000} {
				t.repeated(func() row { return t.initRow(n, true, "") }).print()
				t.repeated(func() row { return t.initRow(n, true, ".tar") }).print()
			}
		}
		if slices.Contains(rows, "verify") {
			t.verifyRow(1000).print()
		}
		if slices.Contains(rows, "publish") || slices.Contains(rows, "loop") {
			t.server(rows)
		}
		if slices.Contains(rows, "rehearse") {
			t.repeated(t.rehearseRow).print()
		}
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

type table struct {
	b      *testing.B
	builds []build
	dir    string
	seq    int
	// bundle1000 is the after build's shared-key bundle of 1,000 GUNs,
	// which the verify row reads.
	bundle1000 string
	// repeat is how many times each row is measured (KEYRITE_BENCH_REPEAT);
	// round counts the repetitions, so that each uses new GUNs.
	repeat, round int
}

func (t *table) path(name string) string {
	t.seq++
	return filepath.Join(t.dir, fmt.Sprintf("%s-%d", name, t.seq))
}

func guns(prefix string, n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = fmt.Sprintf("registry.example.com/%s/app%04d", prefix, i)
	}
	return out
}

// device is a new SoftHSM token holding a root key (and a shared targets
// key), made by the build being measured, and the flags that reach it.
func (t *table) device(bd build, home string, shared bool) []string {
	h := testenv.NewSoftHSM(t.b, "bench")
	secrets := []string{"--pin-file", h.PINFile, "--module", h.Module}
	exe(t.b, home, bd.keyrite, append([]string{"key", "generate", "--device", "pkcs11:token=bench", "--label", "root"}, secrets...)...)
	args := append([]string{"--root-key", "pkcs11:token=bench;object=root"}, secrets...)
	if shared {
		exe(t.b, home, bd.keyrite, append([]string{"key", "generate", "--device", "pkcs11:token=bench", "--label", "targets"}, secrets...)...)
		args = append(args, "--targets-key", "pkcs11:token=bench;object=targets")
	}
	return args
}

// softDevice is a new software token holding a root key, its passphrase
// random (as a rehearsal's, so scrypt at GeneratedPassphraseWorkFactor),
// and the flags that reach it: the software keys the notary CLI loop is
// compared with. Its targets keys are made on it, one per GUN.
func (t *table) softDevice(_ build, home string) []string {
	dir := t.path("softkey")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.b.Fatal(err)
	}
	token, passFile := filepath.Join(dir, "token.softkey"), filepath.Join(dir, "passphrase")
	pass := make([]byte, 16)
	rand.Read(pass)
	phrase := hex.EncodeToString(pass)
	if err := os.WriteFile(passFile, []byte(phrase), 0o600); err != nil {
		t.b.Fatal(err)
	}
	u, err := hsm.ParseURI("softkey:file=" + token)
	if err != nil {
		t.b.Fatal(err)
	}
	pins := hsm.PINFunc(func(context.Context, hsm.PINRequest) ([]byte, error) { return []byte(phrase), nil })
	b, err := softkey.NewGeneratedPassphraseDriver().Open(context.Background(), u, hsm.Options{PIN: pins})
	if err != nil {
		t.b.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Generate(context.Background(), hsm.KeySpec{Label: "root"}); err != nil {
		t.b.Fatal(err)
	}
	return []string{"--root-key", "softkey:file=" + token + ";object=root", "--pin-file", passFile}
}

// initRow: init of n new GUNs from an offline request bundle, on a new
// token per measurement, against the raw device work of the same init.
// With suffix ".tar" the request and signed bundles are one tar file each
// instead of a directory (4 directories and 4 files per GUN in the signed
// one).
func (t *table) initRow(n int, shared bool, suffix string) row {
	req := t.path("request") + suffix
	gs := guns("bench", n)
	if err := offline.NewRequest(req, time.Now(), gs...); err != nil {
		t.b.Fatal(err)
	}
	r := row{what: "init, per-GUN targets keys", n: n, baseName: "raw keygen + C_Sign"}
	if shared {
		r.what, r.baseName = "init, shared targets key", "raw C_Sign"
	}
	if suffix != "" {
		r.what += ", " + suffix + " bundles"
	}
	h := testenv.NewSoftHSM(t.b, "raw")
	base, sigs := rawInit(t.b, h, n, !shared)
	r.base = base
	r.note = fmt.Sprintf("%d device signatures", sigs)
	for _, bd := range t.builds {
		home := t.path("home")
		dev := t.device(bd, home, shared)
		out := t.path("signed") + suffix
		m := exe(t.b, home, bd.keyrite, append(append([]string{"init", "--in", req, "-o", out}, dev...), gs...)...)
		if bd.name == "before" {
			r.before = &m
		} else {
			r.after = m
			if shared && n == 1000 && suffix == "" {
				t.bundle1000 = out
			}
		}
	}
	return r
}

// linearity prints the per-GUN time at the largest N over the one at the
// next size down.
func linearity(rs []row) {
	if len(rs) < 2 {
		return
	}
	a, z := rs[len(rs)-2], rs[len(rs)-1]
	per := func(d time.Duration, n int) float64 { return d.Seconds() / float64(n) }
	fmt.Printf("| init per-GUN time, N=%d over N=%d | | ", z.n, a.n)
	if z.before != nil && a.before != nil {
		fmt.Printf("%.2f× | ", per(z.before.d, z.n)/per(a.before.d, a.n))
	} else {
		fmt.Print("— | ")
	}
	fmt.Printf("%.2f× | raw %.2f× | | | | | |\n", per(z.after.d, z.n)/per(a.after.d, a.n), per(z.base, z.n)/per(a.base, a.n))
}

// verifyRow: keyrite verify of the 1,000-GUN bundle against the bare
// ECDSA verifications of every signature it holds: per GUN root.json's,
// targets.json's and the root certificate's own, and the seal's. Verify is
// short, so each side is the median of three runs, alternated.
func (t *table) verifyRow(n int) row {
	if t.bundle1000 == "" {
		t.initRow(n, true, "")
	}
	sigs := 3*n + 1
	var ones, alls []time.Duration
	runs := map[string][]measured{}
	for range 3 {
		one, all := ecdsaVerifies(sigs)
		ones, alls = append(ones, one), append(alls, all)
		for _, bd := range t.builds {
			runs[bd.name] = append(runs[bd.name], exe(t.b, t.path("home"), bd.keyrite, "verify", t.bundle1000))
		}
	}
	r := row{what: "verify", n: n, base: median(ones), baseName: fmt.Sprintf("%d bare ECDSA verifies", sigs),
		note: fmt.Sprintf("bare verifies on %d cores: %s", runtime.NumCPU(), secs(median(alls)))}
	for name, ms := range runs {
		slices.SortFunc(ms, func(a, b measured) int { return int(a.d - b.d) })
		m := ms[len(ms)/2]
		if name == "before" {
			r.before = &m
		} else {
			r.after = m
		}
	}
	return r
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// rehearseRow: keyrite-rehearse, the README's first command after the
// build (software token, 2 GUNs, the in-process notary-server).
func (t *table) rehearseRow() row {
	r := row{what: "rehearse (software token)", n: 2}
	for _, bd := range t.builds {
		m := exe(t.b, t.path("home"), bd.rehearse, "--dir", t.path("rehearsal"))
		if bd.name == "before" {
			r.before = &m
			r.note = fmt.Sprintf("before RSS %.0f MiB", m.rss)
		} else {
			r.after = m
		}
	}
	return r
}
