// Command pivsim runs virtual YubiKeys (internal/pivsim) in vpcd reader
// slots, for scripts and manual checks with pcscd, ykman and
// yubico-piv-tool. It is a test tool: its attestation root is not Yubico's.
//
//	pivsim -ca-dir DIR -card 127.0.0.1:35963=12345678[:state.json] [-card ...]
//
// Each -card plugs one card into a vpcd slot; with a state file the card
// keeps its keys and PINs across runs. The attestation root is DIR/ca.pem
// (created with DIR/ca.key when missing). pivsim runs until SIGINT or
// SIGTERM, and plugs a card in again when pcscd restarts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keyrite/keyrite/internal/pivsim"
)

type cardFlags []string

func (c *cardFlags) String() string     { return strings.Join(*c, ",") }
func (c *cardFlags) Set(v string) error { *c = append(*c, v); return nil }

func main() {
	var cards cardFlags
	caDir := flag.String("ca-dir", "", "directory of the attestation root (ca.pem, ca.key); created when missing")
	flag.Var(&cards, "card", "ADDR=SERIAL[:STATEFILE] (repeat)")
	flag.Parse()
	if err := run(*caDir, cards); err != nil {
		fmt.Fprintf(os.Stderr, "pivsim: error: %v\n", err)
		os.Exit(1)
	}
}

func run(caDir string, cards []string) error {
	if caDir == "" || len(cards) == 0 {
		return errors.New("need -ca-dir and at least one -card")
	}
	ca, err := loadOrCreateCA(caDir)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	for _, spec := range cards {
		addr, rest, ok := strings.Cut(spec, "=")
		if !ok {
			return fmt.Errorf("-card %q: want ADDR=SERIAL[:STATEFILE]", spec)
		}
		serialStr, statePath, _ := strings.Cut(rest, ":")
		serial, err := strconv.ParseUint(serialStr, 10, 32)
		if err != nil {
			return fmt.Errorf("-card %q: bad serial: %w", spec, err)
		}
		card, err := pivsim.New(pivsim.Config{Serial: uint32(serial), CA: ca, StatePath: statePath})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(ctx, card, addr)
		}()
	}
	fmt.Fprintf(os.Stderr, "pivsim: %d card(s) ready; attestation root %s\n", len(cards), filepath.Join(caDir, "ca.pem"))
	wg.Wait()
	return nil
}

// serve keeps the card plugged into the slot until ctx ends.
func serve(ctx context.Context, card *pivsim.Card, addr string) {
	for ctx.Err() == nil {
		p, err := pivsim.Plug(ctx, card, addr)
		if err != nil {
			return
		}
		fmt.Fprintf(os.Stderr, "pivsim: serial %d plugged into %s\n", card.Serial(), addr)
		select {
		case <-ctx.Done():
			p.Unplug()
			return
		case <-p.Done():
			if err := p.Err(); err != nil {
				fmt.Fprintf(os.Stderr, "pivsim: serial %d: %v\n", card.Serial(), err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func loadOrCreateCA(dir string) (*pivsim.CA, error) {
	certPath, keyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	if _, err := os.Stat(certPath); err == nil {
		return pivsim.LoadCA(certPath, keyPath)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := pivsim.NewCA("pivsim test attestation root (not Yubico)")
	if err != nil {
		return nil, err
	}
	return ca, ca.WriteFiles(certPath, keyPath)
}
