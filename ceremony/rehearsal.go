package ceremony

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/keyrite/keyrite/bundle"
)

// RehearsalServerError is a rehearsal's bundle (signed with a software
// token) on its way to a server that is not on this machine: refused
// before anything connects.
type RehearsalServerError struct{ Server string }

func (e *RehearsalServerError) Error() string {
	return fmt.Sprintf("this bundle is a rehearsal (signed with a software token): it is published only to a notary-server on this machine, not %s", e.Server)
}

// Loopback says whether a server URL names this machine: localhost or a
// loopback address (127.0.0.0/8, ::1).
func Loopback(server string) bool {
	u, err := url.Parse(server)
	if err != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkRehearsalServer refuses a rehearsal bundle for a server that is not
// on this machine.
func checkRehearsalServer(s *bundle.Signed, server string) error {
	if s.Info.Rehearsal && !Loopback(server) {
		return &RehearsalServerError{Server: server}
	}
	return nil
}
