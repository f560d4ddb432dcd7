package main

import (
	"fmt"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/internal/regcreds"
	"github.com/keyrite/keyrite/internal/term"
	"github.com/spf13/cobra"
)

// serverFlags adds the flags that say how to reach a notary-server and
// where the credentials for its token server come from.
func serverFlags(c *cobra.Command, s *bundle.Server) {
	c.Flags().StringVar(&s.URL, "server", "", "notary-server URL, e.g. https://notary.example:4443")
	c.Flags().StringVar(&s.CAFile, "tls-ca", "", "PEM file of the CA that signed the server's certificate")
	c.Flags().StringVar(&s.ClientCert, "tls-cert", "", "PEM client certificate for mutual TLS")
	c.Flags().StringVar(&s.ClientKey, "tls-key", "", "PEM key of the client certificate")
	c.Flags().DurationVar(&s.Timeout, "timeout", 60*time.Second, "timeout of each request (a GET that fails, stalls or is answered 5xx is retried, with backoff)")
	r := &regcreds.Resolver{Prompt: promptLogin}
	c.Flags().StringVar(&r.File, "auth-file", "", "read the token server's credentials, USER:PASSWORD on the first line, from this file (mode 0600) instead of docker's config or the terminal")
	c.Flags().StringVar(&r.DockerConfig, "docker-config", "", "directory of docker's config.json (credHelpers, credsStore, auths) (default: $DOCKER_CONFIG, else ~/.docker)")
	s.Credentials = r.Credential
}

// concurrencyFlag is --concurrency, for the commands that talk to the
// server about many GUNs.
func concurrencyFlag(c *cobra.Command, s *bundle.Server) {
	c.Flags().IntVar(&s.Concurrency, "concurrency", bundle.DefaultConcurrency, "how many GUNs are handled at once (1: one after another)")
}

// promptLogin asks the terminal for the token server's user name and
// password, as docker login does.
func promptLogin(host string) (string, []byte, error) {
	user, err := term.ReadLine(fmt.Sprintf("Username for %s: ", host))
	if err != nil || user == "" {
		return "", nil, err
	}
	pass, err := term.Ask("Password:", true)
	return user, pass, err
}
