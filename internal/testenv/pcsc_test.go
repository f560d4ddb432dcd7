package testenv

import (
	"strings"
	"testing"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/keyrite/keyrite/internal/pivsim"
)

func TestPCSCWithVirtualYubiKey(t *testing.T) {
	p := StartPCSC(t, 2)
	ca, err := pivsim.NewCA("test root")
	if err != nil {
		t.Fatal(err)
	}
	card, err := pivsim.New(pivsim.Config{Serial: 12345678, CA: ca})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Plug(1, card); err != nil {
		t.Fatal(err)
	}
	cards, err := piv.Cards()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("readers: %q", cards)
	var serials []uint32
	for _, c := range cards {
		if !strings.Contains(c, ReaderName) {
			t.Errorf("reader %q", c)
		}
		yk, err := piv.Open(c)
		if err != nil {
			continue
		}
		s, err := yk.Serial()
		if err != nil {
			t.Fatal(err)
		}
		serials = append(serials, s)
		t.Logf("%s: serial %d version %v", c, s, yk.Version())
		yk.Close()
	}
	if len(serials) != 1 || serials[0] != 12345678 {
		t.Fatalf("serials %v", serials)
	}
}
