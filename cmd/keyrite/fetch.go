package main

import (
	"fmt"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/trust"
	"github.com/spf13/cobra"
)

func newFetchCmd(a *App) *cobra.Command {
	var (
		o      bundle.FetchOptions
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "fetch --server URL -o request/ GUN...",
		Short: "Online: fetch what an offline ceremony needs into a request bundle",
		Long: `Fetch, for each GUN, the server's timestamp and snapshot public keys and the
repository's current metadata if it exists, into a new request bundle.

While a repository has no root on the server, every key request makes the
server generate a new key: fetch a new GUN once, and publish the root signed
from that request bundle.`,
		Example: `  keyrite fetch --server https://notary.example:4443 --tls-ca ca.crt -o request/ \
      registry.example.com/org/app registry.example.com/org/web`,
		Args: minArgs(1, "GUN arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Server.URL == "" || o.Out == "" {
				return usagef(cmd, "--server and -o are required")
			}
			for _, g := range args {
				if err := trust.ValidateGUN(g); err != nil {
					return usagef(cmd, "%v", err)
				}
			}
			o.GUNs, o.Now = args, a.Now()
			if !asJSON {
				o.Progress = a.progress("fetched")
			}
			info, err := bundle.Fetch(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(info)
			}
			for _, r := range info.Repos {
				state := "new repository"
				if r.Exists {
					state = fmt.Sprintf("exists, root version %d", r.RootVersion)
				}
				fmt.Fprintf(a.Stdout, "%s\t%s\n", r.GUN, state)
			}
			fmt.Fprintf(a.Stdout, "request bundle written to %s (server %s)\n", o.Out, info.Server)
			return nil
		},
	}
	serverFlags(c, &o.Server)
	concurrencyFlag(c, &o.Server)
	c.Flags().StringVarP(&o.Out, "out", "o", "", "request bundle to create: a directory, or one file if it ends in .tar")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
