package main

import (
	"fmt"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/spf13/cobra"
)

func newPublishCmd(a *App) *cobra.Command {
	var (
		o      ceremony.PublishOptions
		asJSON bool
		dryRun bool
	)
	c := &cobra.Command{
		Use:   "publish --server URL signed/",
		Short: "Online: upload a signed bundle and verify what the server serves",
		Long: `Verify the signed bundle, check every GUN against the server (a bundle made
from a stale request bundle, or for another server, changes nothing), upload
each GUN as the notary client does, then read each repository back with
notary's client code pinned to the bundle's root certificates.`,
		Example: `  keyrite publish --server https://notary.example:4443 --tls-ca ca.crt signed/`,
		Args:    exactArgs(1, "one bundle directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Server.URL == "" {
				return usagef(cmd, "--server is required")
			}
			o.Bundle, o.Now = args[0], a.Now()
			if dryRun {
				return runDiff(a, cmd, ceremony.DiffOptions{Server: o.Server, Bundle: o.Bundle, Now: o.Now,
					Verify: verify.Options{Registry: a.registry}, Publish: true}, asJSON)
			}
			if !asJSON {
				p := a.newProgress("published")
				o.Progress = func(done, total int, gun, state string) { p.item(done, total, gun, state) }
			}
			o.Verify.Registry = a.registry
			rep, res, err := ceremony.Publish(cmd.Context(), o)
			if err != nil {
				if asJSON && (rep != nil || len(res) > 0) {
					return withReport(err, map[string]any{"verify": rep, "published": res})
				}
				return err
			}
			if asJSON {
				if res == nil {
					res = []bundle.PublishResult{}
				}
				return a.printJSON(map[string]any{"published": res})
			}
			for _, r := range res {
				state := "published"
				if r.AlreadyThere {
					state = "already published"
				}
				fmt.Fprintf(a.Stdout, "%s\troot v%d\troot key %s\t%s, verified by notary client\n", r.GUN, r.RootVersion, shortIDs(r.RootKeyIDs), state)
			}
			return nil
		},
	}
	serverFlags(c, &o.Server)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "check and show per GUN what the upload would change (as keyrite diff), upload nothing")
	return c
}
