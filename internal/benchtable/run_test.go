package benchtable

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// build is one keyrite under measurement: its two binaries.
type build struct {
	name     string // "before" or "after"
	keyrite  string
	rehearse string
}

// builds are the keyrites scripts/bench built: KEYRITE_BENCH_AFTER (this
// tree) and, if set, KEYRITE_BENCH_BEFORE (the base), each a directory
// holding keyrite and keyrite-rehearse.
func builds(b *testing.B) []build {
	var out []build
	for _, v := range []struct{ name, env string }{{"before", "KEYRITE_BENCH_BEFORE"}, {"after", "KEYRITE_BENCH_AFTER"}} {
		dir := os.Getenv(v.env)
		if dir == "" {
			continue
		}
		out = append(out, build{name: v.name, keyrite: filepath.Join(dir, "keyrite"), rehearse: filepath.Join(dir, "keyrite-rehearse")})
	}
	if len(out) == 0 || out[len(out)-1].name != "after" {
		b.Fatal("KEYRITE_BENCH_AFTER names no build: run scripts/bench")
	}
	return out
}

// measured is one timed process: wall time and peak resident memory.
type measured struct {
	d   time.Duration
	rss float64 // MiB
}

// exe runs a binary with HOME (and so keyrite's default state and trust
// directories) in dir, stdin empty, and fails the benchmark if it fails.
// What earlier commands wrote is flushed to disk first (sync(2)), so that
// the kernel's writeback of the last run's bundle is not timed as this
// run's fsyncs.
func exe(b *testing.B, home, bin string, args ...string) measured {
	b.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home+"/.config", "XDG_STATE_HOME="+home+"/.state")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	syscall.Sync()
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(short(args), " "), err, tail(errb.String()))
	}
	m := measured{d: d}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.rss = float64(ru.Maxrss) / 1024
	}
	return m
}

func short(args []string) []string {
	if len(args) > 12 {
		return append(args[:12:12], fmt.Sprintf("… (%d more)", len(args)-12))
	}
	return args
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// row is one line of the table.
type row struct {
	what     string
	n        int
	before   *measured
	after    measured
	base     time.Duration
	baseName string
	note     string
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func (r row) print() {
	before, ratioBefore := "—", "—"
	if r.before != nil {
		before = secs(r.before.d)
		if r.base > 0 {
			ratioBefore = fmt.Sprintf("%.2f×", float64(r.before.d)/float64(r.base))
		}
	}
	ratioAfter := "—"
	if r.base > 0 {
		ratioAfter = fmt.Sprintf("%.2f×", float64(r.after.d)/float64(r.base))
	}
	base := "—"
	if r.base > 0 {
		base = secs(r.base) + " " + r.baseName
	}
	gain := "—"
	if r.before != nil {
		gain = fmt.Sprintf("%.1f×", float64(r.before.d)/float64(r.after.d))
	}
	fmt.Printf("| %s | %d | %s | %s | %s | %s | %s | %s | %.0f MiB | %s |\n",
		r.what, r.n, before, secs(r.after.d), base, ratioBefore, ratioAfter, gain, r.after.rss, r.note)
}

func printHeader() {
	fmt.Println("| what | N | before | after | baseline | before/baseline | after/baseline | before/after | after RSS | note |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
}
