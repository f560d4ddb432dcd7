package yubikey

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/go-piv/piv-go/v2/piv"
)

// card is one opened YubiKey found on a reader.
type card struct {
	reader  string
	yk      *piv.YubiKey
	serial  uint32
	version piv.Version
	form    piv.Formfactor
}

// scanResult is what a pass over the readers found.
type scanResult struct {
	cards []*card
	busy  []string // readers whose card another program holds
}

// errNoPCSC is returned when the smart card service is not running.
var errNoPCSC = errors.New("cannot reach the smart card service (pcscd); is it running?")

// scan opens every reader and identifies the card in it by serial. Readers
// are never trusted by name. Cards other than keep are closed again; the
// one whose serial is keep (if any) is returned open.
func scan(keep uint32) (*scanResult, error) {
	readers, err := piv.Cards()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoPCSC, err)
	}
	res := &scanResult{}
	for _, r := range readers {
		// piv-go v2.6.0's Open leaks its exclusive connection when the
		// card does not answer SELECT (a non-PIV card, or a card pulled
		// out mid-scan): that reader then shows as busy until keyrite
		// exits.
		yk, err := piv.Open(r)
		if err != nil {
			if isBusy(err) {
				res.busy = append(res.busy, r)
			}
			continue // an empty reader, or not a PIV card
		}
		c := &card{reader: r, yk: yk, version: yk.Version()}
		if c.serial, err = yk.Serial(); err != nil {
			yk.Close()
			continue
		}
		if ff, err := yk.FormFactor(); err == nil {
			c.form = ff
		}
		if c.serial != keep || keep == 0 {
			yk.Close()
			c.yk = nil
		}
		res.cards = append(res.cards, c)
	}
	sort.Slice(res.cards, func(i, j int) bool { return res.cards[i].serial < res.cards[j].serial })
	return res, nil
}

func (r *scanResult) find(serial uint32) *card {
	for _, c := range r.cards {
		if c.serial == serial && c.yk != nil {
			return c
		}
	}
	return nil
}

func (r *scanResult) seen() []string {
	var out []string
	for _, c := range r.cards {
		out = append(out, fmt.Sprintf("serial %d", c.serial))
	}
	for _, b := range r.busy {
		out = append(out, fmt.Sprintf("a card in %s in use by another program", b))
	}
	return out
}

// PC/SC failures that mean the card went away.
var removedMessages = []string{
	"has been removed",
	"no Smart Card is currently in the device",
	"power has been removed",
	"reader is not currently available",
	"reader name is not recognized",
	"has been reset",
	"smart card resource manager is not running",
	// pcscd drops the transaction of a card that went away mid-command.
	"non-existent transaction",
}

func isRemoved(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, m := range removedMessages {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

func isBusy(err error) bool {
	return err != nil && strings.Contains(err.Error(), "other connections outstanding")
}
