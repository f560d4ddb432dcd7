package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyrite/keyrite/internal/pivsim"
	"github.com/keyrite/keyrite/internal/testenv"
)

// ykScript is a script's pcscd and the virtual YubiKeys the test process
// serves into it.
type ykScript struct {
	pcsc  *testenv.PCSC
	ca    *pivsim.CA
	mu    sync.Mutex
	cards map[uint32]*pivsim.Card
	pin   string
	puk   string
}

type ykScriptKey struct{}

// setupYubiKeys gives every script its own pcscd (so device list sees the
// smart card service) and a test attestation root in $PIVSIM_ROOT.
func setupYubiKeys(env *testscript.Env) error {
	runDir, err := os.MkdirTemp("", "krpcsc-") // short: a socket path is limited
	if err != nil {
		return err
	}
	p, err := testenv.StartPCSCAt(runDir, 2, false)
	if err != nil {
		os.RemoveAll(runDir)
		return err
	}
	env.Defer(func() {
		p.Stop()
		os.RemoveAll(runDir)
		os.RemoveAll(runDir + ".conf")
	})
	ca, err := pivsim.NewCA("keyrite testscript attestation root")
	if err != nil {
		return err
	}
	root := filepath.Join(env.WorkDir, ".pivsim-root.pem")
	if err := os.WriteFile(root, ca.CertPEM(), 0o644); err != nil {
		return err
	}
	s := &ykScript{pcsc: p, ca: ca, cards: map[uint32]*pivsim.Card{}, pin: "135790", puk: "24680246"}
	if err := writeSecret(filepath.Join(env.WorkDir, "ykpin.txt"), s.pin); err != nil {
		return err
	}
	if err := writeSecret(filepath.Join(env.WorkDir, "ykpuk.txt"), s.puk); err != nil {
		return err
	}
	env.Values[ykScriptKey{}] = s
	env.Setenv("PCSCLITE_CSOCK_NAME", p.Socket)
	env.Setenv("PIVSIM_ROOT", root)
	return nil
}

// cmdYubiKey plugs virtual YubiKeys into the script's pcscd:
//
//	yubikey plug SLOT SERIAL [provisioned] [firmware=5.4.3] [foreign-ca]
//	yubikey unplug SLOT
//
// provisioned gives the card ykpin.txt's PIN, ykpuk.txt's PUK and a stored
// management key; foreign-ca issues its attestation under another root.
// A card unplugged and plugged again keeps its state.
func cmdYubiKey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: yubikey plug SLOT SERIAL [provisioned] [firmware=X.Y.Z] [foreign-ca] | yubikey unplug SLOT")
	}
	s := ts.Value(ykScriptKey{}).(*ykScript)
	slot, err := strconv.Atoi(args[1])
	ts.Check(err)
	switch args[0] {
	case "unplug":
		s.pcsc.Unplug(slot)
	case "plug":
		if len(args) < 3 {
			ts.Fatalf("usage: yubikey plug SLOT SERIAL ...")
		}
		n, err := strconv.ParseUint(args[2], 10, 32)
		ts.Check(err)
		serial := uint32(n)
		s.mu.Lock()
		card := s.cards[serial]
		s.mu.Unlock()
		if card == nil {
			cfg := pivsim.Config{Serial: serial, CA: s.ca}
			provisioned := false
			for _, opt := range args[3:] {
				switch {
				case opt == "provisioned":
					provisioned = true
				case opt == "foreign-ca":
					cfg.CA, err = pivsim.NewCA("a foreign attestation root")
					ts.Check(err)
				case len(opt) > 9 && opt[:9] == "firmware=":
					var v [3]int
					if _, err := fmt.Sscanf(opt[9:], "%d.%d.%d", &v[0], &v[1], &v[2]); err != nil {
						ts.Fatalf("yubikey: %s: %v", opt, err)
					}
					cfg.Version = [3]byte{byte(v[0]), byte(v[1]), byte(v[2])}
				default:
					ts.Fatalf("yubikey: unknown option %q", opt)
				}
			}
			card, err = pivsim.New(cfg)
			ts.Check(err)
			if provisioned {
				ts.Check(testenv.Provision(card, s.pin, s.puk))
			}
			s.mu.Lock()
			s.cards[serial] = card
			s.mu.Unlock()
		}
		_, err = s.pcsc.Plug(slot, card)
		ts.Check(err)
	default:
		ts.Fatalf("yubikey: unknown subcommand %q", args[0])
	}
}
