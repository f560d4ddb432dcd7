package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyrite/keyrite/internal/pivsim"
)

// ReaderName is the name pcscd gives the vpcd readers a PCSC starts. It
// contains "Yubico YubiKey" and the USB interfaces, as a real YubiKey's
// reader does, so that ykman and piv-go's own tests recognise the virtual
// cards; keyrite itself identifies cards by serial, never by reader name.
const ReaderName = "Yubico YubiKey OTP+FIDO+CCID"

const (
	pcscStartTimeout = 15 * time.Second
	vpcdLibrary      = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
)

// PCSC is a private pcscd with vpcd readers, for virtual YubiKeys.
//
// pcscd 1.9 always serves /run/pcscd/pcscd.comm, so it runs in its own
// mount namespace with a private directory bound over /run/pcscd: several
// test processes (and a system pcscd, if one runs) never meet. Clients find
// it through PCSCLITE_CSOCK_NAME=Socket, which libpcsclite reads once per
// process. The vpcd readers listen on free ports picked at start.
type PCSC struct {
	Dir     string // private files: configuration, run directory, log
	Socket  string // the daemon's socket; export as PCSCLITE_CSOCK_NAME
	LogFile string
	PID     int
	Slots   []string // vpcd slot addresses (127.0.0.1:PORT), in reader order

	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
	stopErr  error

	mu      sync.Mutex
	plugged map[int]*pivsim.Plugged // by slot index
}

// SocketForProcess is the PCSCLITE_CSOCK_NAME a test process uses for every
// pcscd it starts in-process: libpcsclite caches the socket path at its
// first use, so it must not change within a process.
func SocketForProcess() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("keyrite-pcscd-%d", os.Getpid()), "pcscd.comm")
}

// StartPCSC starts a private pcscd with the given number of vpcd slots
// (rounded up to an even number: each vpcd reader has two) and stops it
// when the test ends. It sets PCSCLITE_CSOCK_NAME for the test, so
// libpcsclite in this process (piv-go, keyrite run in-process) talks to it.
// Tests that use it cannot run in parallel.
func StartPCSC(t testing.TB, slots int) *PCSC {
	t.Helper()
	sock := SocketForProcess()
	p, err := StartPCSCAt(filepath.Dir(sock), slots, false)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Setenv("PCSCLITE_CSOCK_NAME", p.Socket)
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("testenv: stopping pcscd: %v", err)
		}
		if t.Failed() {
			t.Logf("pcscd log tail (%s):\n%s", p.LogFile, tail(p.LogFile, 30))
		}
		os.RemoveAll(filepath.Dir(p.Socket))
		os.RemoveAll(p.Dir)
	})
	return p
}

// StartPCSCAt starts a private pcscd whose socket is runDir/pcscd.comm;
// runDir is emptied first. Its configuration and log live in runDir's
// sibling "<runDir>.conf". The process is in its own session. A detached
// pcscd outlives the caller unless Stop is called (for scripts); otherwise
// it is killed when the process that started it dies, so a test killed by
// its timeout leaves no pcscd behind.
func StartPCSCAt(runDir string, slots int, detach bool) (*PCSC, error) {
	pcscd, err := exec.LookPath("pcscd")
	if err != nil {
		for _, p := range []string{"/usr/sbin/pcscd", "/sbin/pcscd"} {
			if _, serr := os.Stat(p); serr == nil {
				pcscd, err = p, nil
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("pcscd not found (hint: run scripts/setup): %w", err)
	}
	if _, err := os.Stat(vpcdLibrary); err != nil {
		return nil, fmt.Errorf("vpcd reader driver not found (hint: run scripts/setup to install vsmartcard-vpcd): %w", err)
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return nil, fmt.Errorf("unshare not found (util-linux): %w", err)
	}
	if slots < 1 {
		slots = 1
	}
	readers := (slots + 1) / 2
	runDir, err = filepath.Abs(runDir)
	if err != nil {
		return nil, err
	}
	confDir := runDir + ".conf"
	for _, d := range []string{runDir, confDir} {
		if err := os.RemoveAll(d); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	readerDir := filepath.Join(confDir, "reader.conf.d")
	if err := os.Mkdir(readerDir, 0o755); err != nil {
		return nil, err
	}
	p := &PCSC{Dir: confDir, Socket: filepath.Join(runDir, "pcscd.comm"), LogFile: filepath.Join(confDir, "pcscd.log"),
		exited: make(chan struct{}), plugged: map[int]*pivsim.Plugged{}}
	var conf strings.Builder
	for i := 0; i < readers; i++ {
		port, err := freePortPair()
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&conf, "FRIENDLYNAME \"%s\"\nDEVICENAME /dev/null:%d\nLIBPATH %s\nCHANNELID %d\n\n", ReaderName, port, vpcdLibrary, port)
		p.Slots = append(p.Slots, fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", port+1))
	}
	if err := os.WriteFile(filepath.Join(readerDir, "vpcd"), []byte(conf.String()), 0o644); err != nil {
		return nil, err
	}
	// The mount point must exist on the host for the bind mount.
	if err := os.MkdirAll("/run/pcscd", 0o755); err != nil {
		return nil, fmt.Errorf("creating /run/pcscd: %w", err)
	}
	logf, err := os.OpenFile(p.LogFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	script := `mount --bind "$1" /run/pcscd && exec "$2" --foreground --info --config "$3"`
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "pcscd", runDir, pcscd, readerDir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if !detach {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting pcscd: %w", err)
	}
	p.cmd, p.PID = cmd, cmd.Process.Pid
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitReady(pcscStartTimeout); err != nil {
		p.Stop()
		return nil, fmt.Errorf("pcscd: %w\nlog tail (%s):\n%s", err, p.LogFile, tail(p.LogFile, 20))
	}
	return p, nil
}

// waitReady waits for the socket and for every vpcd slot to listen.
func (p *PCSC) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, serr := os.Stat(p.Socket)
		missing := ""
		if serr == nil {
			listening, err := listeningPorts()
			if err != nil {
				return err
			}
			for _, s := range p.Slots {
				_, port, _ := net.SplitHostPort(s)
				n, _ := strconv.Atoi(port)
				if !listening[n] {
					missing = s
					break
				}
			}
		} else {
			missing = p.Socket
		}
		if missing == "" {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited before it was ready: %v", p.waitErr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s (waiting for %s)", timeout, missing)
		}
	}
}

// listeningPorts reads the TCP ports in LISTEN state from /proc, so that
// readiness is checked without connecting to vpcd (a connection is a card).
func listeningPorts() (map[int]bool, error) {
	out := map[int]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != "0A" {
				continue
			}
			_, port, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(port, 16, 32)
			if err == nil {
				out[int(n)] = true
			}
		}
		fh.Close()
	}
	return out, nil
}

// freePortPair finds a port P such that P and P+1 are both free now.
func freePortPair() (int, error) {
	for try := 0; try < 50; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf(":%d", port+1))
		if err != nil {
			l.Close()
			continue
		}
		l.Close()
		l2.Close()
		// vpcd listens on all interfaces: the first port must be free there too.
		l3, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			continue
		}
		l3.Close()
		return port, nil
	}
	return 0, errors.New("no free pair of TCP ports for vpcd")
}

// Stop unplugs the cards and stops pcscd (SIGTERM, then SIGKILL).
func (p *PCSC) Stop() error {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		for i, pl := range p.plugged {
			pl.Unplug()
			delete(p.plugged, i)
		}
		p.mu.Unlock()
		if p.cmd == nil || p.cmd.Process == nil {
			return
		}
		select {
		case <-p.exited:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
			p.stopErr = errors.New("pcscd did not exit on SIGTERM; killed")
		}
	})
	return p.stopErr
}

// Plug inserts a card into a slot (by index) and waits until pcscd has
// powered it up and read its ATR.
func (p *PCSC) Plug(slot int, card *pivsim.Card) (*pivsim.Plugged, error) {
	if slot < 0 || slot >= len(p.Slots) {
		return nil, fmt.Errorf("no vpcd slot %d (have %d)", slot, len(p.Slots))
	}
	p.mu.Lock()
	if _, busy := p.plugged[slot]; busy {
		p.mu.Unlock()
		return nil, fmt.Errorf("vpcd slot %d already holds a card", slot)
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pl, err := pivsim.Plug(ctx, card, p.Slots[slot])
	if err != nil {
		return nil, err
	}
	select {
	case <-pl.Ready():
		// pcscd updates the reader state right after the power-up.
		time.Sleep(100 * time.Millisecond)
	case <-ctx.Done():
		pl.Unplug()
		return nil, fmt.Errorf("pcscd did not power up the card in slot %d", slot)
	}
	p.mu.Lock()
	p.plugged[slot] = pl
	p.mu.Unlock()
	return pl, nil
}

// Unplug pulls the card out of a slot and waits until pcscd has noticed
// (it polls vpcd every 400 ms). Until then a client that connects to the
// reader gets a card that does not answer.
func (p *PCSC) Unplug(slot int) {
	p.UnplugNoWait(slot)
	time.Sleep(700 * time.Millisecond)
}

// UnplugNoWait pulls the card out of a slot, as a person does in the middle
// of an operation.
func (p *PCSC) UnplugNoWait(slot int) {
	p.mu.Lock()
	pl := p.plugged[slot]
	delete(p.plugged, slot)
	p.mu.Unlock()
	if pl != nil {
		pl.Unplug()
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// VirtualYubiKey makes a new virtual YubiKey with the given serial, under
// the attestation root ca, and plugs it into a slot; it fails the test on
// error. cfg may set other Config fields (Serial and CA are filled in).
func (p *PCSC) VirtualYubiKey(t testing.TB, slot int, serial uint32, ca *pivsim.CA, cfg pivsim.Config) *pivsim.Card {
	t.Helper()
	cfg.Serial, cfg.CA = serial, ca
	card, err := pivsim.New(cfg)
	if err != nil {
		t.Fatalf("testenv: virtual YubiKey %d: %v", serial, err)
	}
	if _, err := p.Plug(slot, card); err != nil {
		t.Fatalf("testenv: plugging virtual YubiKey %d: %v", serial, err)
	}
	return card
}

// Provision puts a virtual YubiKey in the state keyrite device provision
// leaves: a new PIN and PUK and a random AES-192 management key stored
// PIN-protected. Tests use it to start from a provisioned device without
// going through keyrite.
func Provision(card *pivsim.Card, pin, puk string) error {
	return card.ProvisionForTest(pin, puk)
}
