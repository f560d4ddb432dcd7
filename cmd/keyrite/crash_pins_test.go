package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/trust"
	"github.com/keyrite/keyrite/trust/store"
)

// TestCrashInitKilledWhilePinning kills init of 200 GUNs with SIGKILL in
// the middle of pinning its roots in the trust store (one batch, see
// store.SetBatch): with the batch's pack written and synced, with the new
// state.json written and synced beside its place, and after it is renamed
// into place, before the directory's sync. Every file the kill leaves is
// whole (state.json parses, and every root it names is in a pack, whole,
// with its SHA-256 and the version it says), the batch is all or nothing
// (no pin before the rename, every pin after it), and the store converges:
// the rerun refuses the bundle, which is written, and trust import of that
// bundle pins every GUN, removing the pack and the temporary the killed
// run left.
func TestCrashInitKilledWhilePinning(t *testing.T) {
	bin := buildKeyrite(t, "faultinject")
	const n = 200
	for _, c := range []struct {
		step                string
		pins, orphans, tmps int // after the kill
	}{
		{"pack", 0, 1, 0},
		{"state", 0, 1, 1},
		{"renamed", n, 0, 0},
	} {
		t.Run(c.step, func(t *testing.T) {
			e := newCrashEnv(t, bin, n)
			trustDir := filepath.Join(e.dir, "trust")
			args := e.initArgs("--trust-dir", trustDir)
			cmd := e.command(args...)
			cmd.Env = append(cmd.Env, "KEYRITE_FAULTINJECT_PINS="+c.step+":1")
			out, err := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != -1 {
				t.Fatalf("not killed: exit %d, %v\n%s", code, err, out)
			}
			pins, orphans, temps := checkStoreWhole(t, trustDir, e.guns)
			t.Logf("killed at %s: %d pins in force, %d packs and %d temporaries left unnamed", c.step, pins, orphans, temps)
			if pins != c.pins || orphans != c.orphans || temps != c.tmps {
				t.Errorf("%d pins, %d unnamed packs, %d temporaries; want %d, %d, %d", pins, orphans, temps, c.pins, c.orphans, c.tmps)
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
			if pinned != n-c.pins {
				t.Errorf("trust import pinned %d GUNs, want the %d the kill left unpinned", pinned, n-c.pins)
			}
			pins, orphans, temps = checkStoreWhole(t, trustDir, e.guns)
			if pins != n || orphans != 0 || temps != 0 {
				t.Errorf("after trust import: %d pins, %d unnamed packs, %d temporaries", pins, orphans, temps)
			}
			e.checkFinished()
		})
	}
}

// checkStoreWhole checks, reading the files directly, that a trust store
// (format 2) is whole: state.json, if there, parses; each GUN in it is one
// of guns, pinned at version 1 with one root key, the version held; each
// root it names lies within a pack of packs/, its bytes hash to the
// SHA-256 recorded and are a root of the version recorded. The store then
// reads the same through its API. It counts the pins, the packs state.json
// does not name, and the temporaries (.NAME.partial-N) left.
func checkStoreWhole(t *testing.T, dir string, guns []string) (pins, orphans, temps int) {
	t.Helper()
	want := map[string]bool{}
	for _, g := range guns {
		want[g] = true
	}
	var st struct {
		Format string `json:"format"`
		Repos  []struct {
			GUN        string   `json:"gun"`
			Version    int      `json:"version"`
			RootKeyIDs []string `json:"root_key_ids"`
			Roots      []struct {
				Version        int
				Pack           string
				Offset, Length int64
				SHA256         string
			} `json:"roots"`
		} `json:"repos"`
	}
	named := map[string]bool{}
	roots := map[string][]byte{} // GUN: the pinned root
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	switch {
	case os.IsNotExist(err):
	case err != nil:
		t.Fatal(err)
	default:
		if err := json.Unmarshal(b, &st); err != nil || st.Format != "keyrite-trust-store/2" {
			t.Fatalf("state.json is not whole: %v\n%.200s", err, b)
		}
	}
	for _, r := range st.Repos {
		if !want[r.GUN] || r.Version != 1 || len(r.RootKeyIDs) != 1 {
			t.Errorf("%s: not a pin of the init: version %d, root keys %v", r.GUN, r.Version, r.RootKeyIDs)
		}
		for _, x := range r.Roots {
			named[x.Pack] = true
			pack, err := os.ReadFile(filepath.Join(dir, "packs", filepath.Base(x.Pack)))
			if err != nil || x.Pack != filepath.Base(x.Pack) || x.Offset < 0 || x.Offset+x.Length > int64(len(pack)) {
				t.Errorf("%s: root version %d is not within its pack %s (%d+%d): %v", r.GUN, x.Version, x.Pack, x.Offset, x.Length, err)
				continue
			}
			root := pack[x.Offset : x.Offset+x.Length]
			sum := sha256.Sum256(root)
			v, err := trust.RootVersion(root)
			if hex.EncodeToString(sum[:]) != x.SHA256 || err != nil || v != x.Version {
				t.Errorf("%s: root version %d is not whole in %s: version %d, %v", r.GUN, x.Version, x.Pack, v, err)
			}
			if v == r.Version {
				roots[r.GUN] = root
			}
		}
		if roots[r.GUN] == nil {
			t.Errorf("%s: the pin names version %d, which is not held", r.GUN, r.Version)
		}
		pins++
	}
	packs, err := os.ReadDir(filepath.Join(dir, "packs"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, p := range packs {
		if !named[p.Name()] {
			orphans++
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".partial-") {
			temps++
		}
	}
	// What the store says is what its files hold.
	s := store.Open(dir)
	list, err := s.List()
	if err != nil || len(list) != pins {
		t.Fatalf("the store lists %d pins (%v), its files %d", len(list), err, pins)
	}
	for _, g := range guns {
		p, root, err := s.Pinned(g)
		if err != nil || (p == nil) != (roots[g] == nil) || !bytes.Equal(root, roots[g]) {
			t.Errorf("%s: the store reads %+v, %v", g, p, err)
		}
	}
	return pins, orphans, temps
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
	if pins, orphans, temps := checkStoreWhole(t, trustDir, e.guns); pins != 3 || orphans != 0 || temps != 0 {
		t.Errorf("after trust import: %d pins, %d unnamed packs, %d temporaries", pins, orphans, temps)
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

// TestDamagedTrustStoreRefuses: a trust store pack whose bytes changed, or
// that was truncated, is refused where its roots are read (trust import
// checks each GUN's pin first), with the hint, and nothing is pinned on
// top of it.
func TestDamagedTrustStoreRefuses(t *testing.T) {
	e := newCrashEnv(t, buildKeyrite(t, ""), 2)
	trustDir := filepath.Join(e.dir, "trust")
	if _, stderr, code := e.run(e.initArgs("--trust-dir", trustDir)...); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	packs, err := filepath.Glob(filepath.Join(trustDir, "packs", "*.pack"))
	if err != nil || len(packs) != 1 {
		t.Fatalf("packs: %v %v", packs, err)
	}
	good, err := os.ReadFile(packs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		pack []byte
		want string
	}{
		{"a byte changed", append(append(bytes.Clone(good[:50]), good[50]^1), good[51:]...), "its bytes do not match the SHA-256 state.json records"},
		{"truncated", good[:len(good)-1], "(truncated)"},
	} {
		if err := os.WriteFile(packs[0], c.pack, 0o600); err != nil {
			t.Fatal(err)
		}
		before := storeFiles(t, trustDir)
		_, stderr, code := e.run("trust", "import", e.out, "--trust-dir", trustDir)
		if code != exitFailed || !strings.Contains(stderr, "trust store "+trustDir+" is damaged: "+packs[0]) || !strings.Contains(stderr, c.want) ||
			!strings.Contains(stderr, "keyrite: hint: nothing was signed or pinned: the trust store "+trustDir+" does not hold what it recorded") {
			t.Fatalf("%s: exit %d\n%s", c.name, code, stderr)
		}
		t.Logf("%s: %s", c.name, stderr)
		if after := storeFiles(t, trustDir); after != before {
			t.Errorf("%s: the refused import changed the store:\nbefore: %s\nafter:  %s", c.name, before, after)
		}
	}
	// Restored, it reads again.
	if err := os.WriteFile(packs[0], good, 0o600); err != nil {
		t.Fatal(err)
	}
	if pins, orphans, temps := checkStoreWhole(t, trustDir, e.guns); pins != 2 || orphans != 0 || temps != 0 {
		t.Errorf("restored: %d pins, %d unnamed packs, %d temporaries", pins, orphans, temps)
	}
}
