package main

import (
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/spf13/cobra"
)

// serverFlags adds the flags that say how to reach a notary-server.
func serverFlags(c *cobra.Command, s *bundle.Server) {
	c.Flags().StringVar(&s.URL, "server", "", "notary-server URL, e.g. https://notary.example:4443")
	c.Flags().StringVar(&s.CAFile, "tls-ca", "", "PEM file of the CA that signed the server's certificate")
	c.Flags().StringVar(&s.ClientCert, "tls-cert", "", "PEM client certificate for mutual TLS")
	c.Flags().StringVar(&s.ClientKey, "tls-key", "", "PEM key of the client certificate")
	c.Flags().DurationVar(&s.Timeout, "timeout", 60*time.Second, "timeout of each request")
}
