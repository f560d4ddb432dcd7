package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/trust"
	"github.com/keyrite/keyrite/trust/store"
)

// TestCrashInitKilledWhilePinning kills init of 200 GUNs with SIGKILL in
// the middle of pinning its roots in the trust store (one batch, see
// store.SetBatch): with every temporary written and nothing synced, after
// half the roots are renamed into place, after the first pin, half the
// pins, and every pin but before the last sync. Every file the kill
// leaves in the store is whole and parses (a pin names its GUN and a root
// that is there; a root is the version its name says), as many pins as
// were renamed are in force and no more; and the store converges: the
// rerun refuses the bundle, which is written, and trust import of that
// bundle pins every GUN, removing what the killed run left half-written.
func TestCrashInitKilledWhilePinning(t *testing.T) {
	bin := buildKeyrite(t, "faultinject")
	const n = 200
	for _, c := range []struct {
		step       string
		k          int
		roots, pin int // root files and pins in place after the kill
	}{
		{"written", 1, 0, 0},
		{"root", n / 2, n / 2, 0},
		{"pin", 1, n, 1},
		{"pin", n / 2, n, n / 2},
		{"pin", n, n, n},
	} {
		t.Run(fmt.Sprintf("%s:%d", c.step, c.k), func(t *testing.T) {
			e := newCrashEnv(t, bin, n)
			trustDir := filepath.Join(e.dir, "trust")
			args := e.initArgs("--trust-dir", trustDir)
			cmd := e.command(args...)
			cmd.Env = append(cmd.Env, "KEYRITE_FAULTINJECT_PINS="+c.step+":"+strconv.Itoa(c.k))
			out, err := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != -1 {
				t.Fatalf("not killed: exit %d, %v\n%s", code, err, out)
			}
			roots, pins, temps := checkStoreWhole(t, trustDir, e.guns)
			t.Logf("killed at %s:%d: %d roots and %d pins in place, %d temporaries left", c.step, c.k, roots, pins, temps)
			if roots != c.roots || pins != c.pin {
				t.Errorf("%d roots and %d pins in place, want %d and %d", roots, pins, c.roots, c.pin)
			}
			// The bundle was written before its roots were pinned.
			_, stderr, code := e.run(args...)
			if code != 1 || !strings.Contains(stderr, "already exists") {
				t.Fatalf("rerun: exit %d\n%s", code, stderr)
			}
			stdout, stderr, code := e.run("trust", "import", e.out, "--trust-dir", trustDir, "--json")
			if code != 0 {
				t.Fatalf("trust import: exit %d\n%s", code, stderr)
			}
			var changes []struct {
				GUN    string `json:"gun"`
				Action string `json:"action"`
			}
			if err := json.Unmarshal([]byte(stdout), &changes); err != nil || len(changes) != n {
				t.Fatalf("trust import --json: %v\n%s", err, stdout)
			}
			pinned := 0
			for _, ch := range changes {
				if ch.Action == "pinned" {
					pinned++
				}
			}
			if pinned != n-c.pin {
				t.Errorf("trust import pinned %d GUNs, want the %d the kill left unpinned", pinned, n-c.pin)
			}
			roots, pins, temps = checkStoreWhole(t, trustDir, e.guns)
			if roots != n || pins != n || temps != 0 {
				t.Errorf("after trust import: %d roots, %d pins, %d temporaries", roots, pins, temps)
			}
			e.checkFinished()
		})
	}
}

// checkStoreWhole checks that every file in a trust store is whole: each
// pin.json parses, names its directory's GUN (one of guns) at version 1
// and a root held beside it; each N.root.json is a root of version N. It
// counts the roots, the pins and the temporaries (.NAME.partial-N) left.
func checkStoreWhole(t *testing.T, dir string, guns []string) (roots, pins, temps int) {
	t.Helper()
	want := map[string]bool{}
	for _, g := range guns {
		want[g] = true
	}
	repos, err := os.ReadDir(filepath.Join(dir, "repos"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range repos {
		raw, err := hex.DecodeString(r.Name())
		if err != nil || !want[string(raw)] {
			t.Errorf("%s: not a GUN of the init", r.Name())
			continue
		}
		gun := string(raw)
		ents, err := os.ReadDir(filepath.Join(dir, "repos", r.Name()))
		if err != nil {
			t.Fatal(err)
		}
		held := map[int]bool{}
		pinned := 0
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, "repos", r.Name(), e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			name := e.Name()
			switch v, isRoot := strings.CutSuffix(name, ".root.json"); {
			case strings.Contains(name, ".partial-"):
				temps++
			case name == "pin.json":
				var p store.Pin
				if err := json.Unmarshal(b, &p); err != nil || p.GUN != gun || p.Version != 1 || len(p.RootKeyIDs) != 1 {
					t.Errorf("%s: pin.json is not whole: %v\n%s", gun, err, b)
				}
				pinned = p.Version
				pins++
			case isRoot:
				got, err := trust.RootVersion(b)
				if err != nil || strconv.Itoa(got) != v {
					t.Errorf("%s: %s is not whole: version %d, %v", gun, name, got, err)
				}
				held[got] = true
				roots++
			default:
				t.Errorf("%s: unexpected %s", gun, name)
			}
		}
		if pinned != 0 && !held[pinned] {
			t.Errorf("%s: the pin names version %d, which is not held", gun, pinned)
		}
	}
	return roots, pins, temps
}

// TestInitPinFailureKeepsTheBundle: when the trust store cannot be written
// after the bundle is (here its lock file is a directory), init fails
// saying so, but the bundle stands with the targets keys it names (none
// is rolled back, no journal is left to offer them for removal), and trust
// import of it pins every GUN once the store is fixed.
func TestInitPinFailureKeepsTheBundle(t *testing.T) {
	e := newCrashEnv(t, buildKeyrite(t, ""), 3)
	trustDir := filepath.Join(e.dir, "trust")
	if err := os.MkdirAll(filepath.Join(trustDir, ".lock"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := e.run(e.initArgs("--trust-dir", trustDir)...)
	if code != 1 || !strings.Contains(stderr, "is written and verified, but its roots could not be pinned in the trust store") ||
		!strings.Contains(stderr, "keyrite: hint: the bundle is good and its keys are kept: once the trust store can be written, pin its roots with keyrite trust import "+e.out) {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	e.checkFinished()
	if err := os.Remove(filepath.Join(trustDir, ".lock")); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := e.run("trust", "import", e.out, "--trust-dir", trustDir); code != 0 {
		t.Fatalf("trust import: exit %d\n%s", code, stderr)
	}
	if roots, pins, temps := checkStoreWhole(t, trustDir, e.guns); roots != 3 || pins != 3 || temps != 0 {
		t.Errorf("after trust import: %d roots, %d pins, %d temporaries", roots, pins, temps)
	}
}

// TestTrustImportIsAllOrNothing: a trust import that one GUN refuses (this
// machine pins another root for it) pins none of the bundle's GUNs.
func TestTrustImportIsAllOrNothing(t *testing.T) {
	bin := buildKeyrite(t, "")
	a, b := newCrashEnv(t, bin, 2), newCrashEnv(t, bin, 2)
	trustA, trustB := filepath.Join(a.dir, "trust"), filepath.Join(b.dir, "trust")
	if _, stderr, code := a.run(a.initArgs("--trust-dir", trustA)...); code != 0 {
		t.Fatalf("init on a: exit %d\n%s", code, stderr)
	}
	// b pins its own root (another root key) for the second GUN only.
	b.guns = b.guns[1:]
	if _, stderr, code := b.run(b.initArgs("--trust-dir", trustB)...); code != 0 {
		t.Fatalf("init on b: exit %d\n%s", code, stderr)
	}
	before := storeFiles(t, trustB)
	_, stderr, code := b.run("trust", "import", a.out, "--trust-dir", trustB)
	if code == 0 || !strings.Contains(stderr, a.guns[1]) || !strings.Contains(stderr, "keyrite: hint: nothing was pinned: a root on this media does not follow the root trusted here") {
		t.Fatalf("trust import of another root: exit %d\n%s", code, stderr)
	}
	t.Logf("refused: %s", stderr)
	if after := storeFiles(t, trustB); after != before {
		t.Errorf("the refused import changed the store:\nbefore: %s\nafter:  %s", before, after)
	}
}

// storeFiles lists a trust store's files with their sizes.
func storeFiles(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			out = append(out, fmt.Sprintf("%s:%d", strings.TrimPrefix(p, dir), fi.Size()))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, " ")
}
