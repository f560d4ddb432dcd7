package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// AgeTool returns the path of an age v1.3 command (age, age-keygen,
// age-plugin-batchpass), looked up in PATH and then in $GOBIN or
// $GOPATH/bin, where scripts/setup installs them with go install. A missing
// tool fails the test: it is never skipped.
func AgeTool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range goBinDirs() {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	t.Fatalf("testenv: %s not found in PATH or the Go bin directory: run scripts/setup (go install filippo.io/age/cmd/...@v1.3.2)", name)
	return ""
}

// AgePluginPath puts the directory of an age plugin binary first in PATH
// for the rest of the test, so that filippo.io/age/plugin finds it.
func AgePluginPath(t testing.TB, name string) {
	t.Helper()
	p := AgeTool(t, name)
	t.Setenv("PATH", filepath.Dir(p)+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func goBinDirs() []string {
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) == 2 {
			if lines[0] != "" {
				dirs = append(dirs, lines[0])
			}
			for _, p := range filepath.SplitList(lines[1]) {
				dirs = append(dirs, filepath.Join(p, "bin"))
			}
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	return dirs
}
