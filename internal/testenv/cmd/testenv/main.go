// Command testenv starts and stops keyrite's test components for scripts
// (demos, benchmarks):
//
//	eval "$(go run ./internal/testenv/cmd/testenv notary-server start DIR)"
//	go run ./internal/testenv/cmd/testenv notary-server stop DIR
//
// start runs a notary-server in the background (it outlives this command),
// writes DIR/pid, DIR/url and DIR/ca.crt, and prints NOTARY_URL, NOTARY_CA
// and NOTARY_PID as shell assignments. stop kills the pid in DIR/pid and
// waits until it is gone.
//
//	eval "$(go run ./internal/testenv/cmd/testenv pcscd start DIR)"
//	go run ./internal/testenv/cmd/testenv pcscd stop DIR
//
// pcscd start runs a private pcscd (own mount namespace and socket) with
// two empty vpcd slots for virtual YubiKeys (internal/pivsim/cmd/pivsim),
// writes DIR/pid and prints PCSCLITE_CSOCK_NAME, VPCD_SLOT0, VPCD_SLOT1
// and PCSCD_PID. pcscd stop stops it (SIGTERM, then SIGKILL).
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keyrite/keyrite/internal/testenv"
)

const usage = "usage: testenv notary-server|pcscd start|stop DIR"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: error: %v\n", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New(usage)

func run(args []string) error {
	if len(args) == 3 && args[0] == "pcscd" {
		switch args[1] {
		case "start":
			return startPCSCD(args[2])
		case "stop":
			return stopPCSCD(args[2])
		}
		return errUsage
	}
	if len(args) != 3 || args[0] != "notary-server" {
		return errUsage
	}
	dir := args[2]
	switch args[1] {
	case "start":
		return start(dir)
	case "stop":
		return stop(dir)
	default:
		return errUsage
	}
}

func start(dir string) error {
	if pid, err := readPID(dir); err == nil && isNotaryServer(pid) {
		return fmt.Errorf("a notary-server (pid %d) is already running from %s: stop it first", pid, dir)
	}
	s, err := testenv.StartNotaryServerDir(dir)
	if err != nil {
		return err
	}
	files := map[string]string{
		"pid": strconv.Itoa(s.PID) + "\n",
		"url": s.URL + "\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(s.Dir, name), []byte(data), 0o644); err != nil {
			_ = s.Stop()
			return err
		}
	}
	fmt.Printf("NOTARY_URL=%s\nNOTARY_CA=%s\nNOTARY_PID=%d\n",
		shellQuote(s.URL), shellQuote(s.CAFile), s.PID)
	return nil
}

func stop(dir string) error {
	pid, err := readPID(dir)
	if err != nil {
		return err
	}
	if !isNotaryServer(pid) {
		fmt.Fprintf(os.Stderr, "testenv: notary-server pid %d is not running\n", pid)
		return os.Remove(filepath.Join(dir, "pid"))
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for isNotaryServer(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d still running 10s after SIGKILL", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "testenv: notary-server pid %d stopped\n", pid)
	return os.Remove(filepath.Join(dir, "pid"))
}

func readPID(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s/pid: not a pid: %q", dir, b)
	}
	return pid, nil
}

// isNotaryServer reports whether pid is a live (not zombie) notary-server, so
// a reused pid is never killed. A zombie counts as gone: its parent may be an
// init that does not reap.
func isNotaryServer(pid int) bool {
	proc := "/proc/" + strconv.Itoa(pid)
	cmdline, err := os.ReadFile(proc + "/cmdline")
	if err != nil {
		return false
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	if filepath.Base(string(argv0)) != "notary-server" {
		return false
	}
	stat, err := os.ReadFile(proc + "/stat")
	if err != nil {
		return false
	}
	// stat is "pid (comm) STATE ...": the state follows the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func startPCSCD(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if pid, err := readPID(dir); err == nil && isProcess(pid, "pcscd") {
		return fmt.Errorf("a pcscd (pid %d) is already running from %s: stop it first", pid, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p, err := testenv.StartPCSCAt(filepath.Join(dir, "run"), 2, true)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(p.PID)+"\n"), 0o644); err != nil {
		p.Stop()
		return err
	}
	fmt.Printf("PCSCLITE_CSOCK_NAME=%s\nVPCD_SLOT0=%s\nVPCD_SLOT1=%s\nPCSCD_PID=%d\n",
		shellQuote(p.Socket), p.Slots[0], p.Slots[1], p.PID)
	return nil
}

func stopPCSCD(dir string) error {
	pid, err := readPID(dir)
	if err != nil {
		return err
	}
	if !isProcess(pid, "pcscd") {
		fmt.Fprintf(os.Stderr, "testenv: pcscd pid %d is not running\n", pid)
		return os.Remove(filepath.Join(dir, "pid"))
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for isProcess(pid, "pcscd") {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(5 * time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "testenv: pcscd pid %d stopped\n", pid)
	return os.Remove(filepath.Join(dir, "pid"))
}

// isProcess reports whether pid is a live process whose program is name.
func isProcess(pid int, name string) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	if filepath.Base(string(argv0)) != name {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
