package ceremony

import (
	"errors"
	"testing"

	"github.com/keyrite/keyrite/bundle"
)

func TestLoopback(t *testing.T) {
	for server, want := range map[string]bool{
		"https://127.0.0.1:4443": true, "https://127.3.2.1": true, "https://localhost:4443": true, "https://LOCALHOST": true,
		"https://[::1]:4443": true, "https://notary.example.com": false, "https://10.0.0.1:4443": false, "https://192.168.1.10": false,
		"https://127.0.0.1.example.com": false, "https://[::2]": false, "https://localhost.example.com": false,
	} {
		if got := Loopback(server); got != want {
			t.Errorf("Loopback(%s) = %v, want %v", server, got, want)
		}
	}
}

// A rehearsal bundle is refused for another server before anything
// connects: the server named does not exist, and the error is ours.
func TestPublishRefusesRehearsalForRemoteServer(t *testing.T) {
	s := &bundle.Signed{Info: bundle.SignedInfo{Rehearsal: true, Server: "https://notary.invalid"}}
	var re *RehearsalServerError
	if err := checkRehearsalServer(s, "https://notary.invalid"); !errors.As(err, &re) {
		t.Fatalf("err = %v", err)
	}
	if err := checkRehearsalServer(s, "https://127.0.0.1:4443"); err != nil {
		t.Fatal(err)
	}
	s.Info.Rehearsal = false
	if err := checkRehearsalServer(s, "https://notary.invalid"); err != nil {
		t.Fatal(err)
	}
}
