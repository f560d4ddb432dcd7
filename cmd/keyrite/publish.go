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
notary's client code from the root the bundle signed.

GUNs are published --concurrency at a time, each as one check, one upload
and its read-back (five requests for a new repository). A GET that fails,
stalls past --timeout or is answered 5xx is retried with backoff; an upload
that fails is retried only after reading back that it did not land. Every
GUN's outcome is printed: published, already published, or failed with the
reason. Running the same publish again finishes what failed.`,
		Example: `  keyrite publish --server https://notary.example:4443 --tls-ca ca.crt signed/
  keyrite publish --server https://notary.example:4443 --tls-ca ca.crt --concurrency 16 --json signed/`,
		Args: exactArgs(1, "one bundle directory"),
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
			if asJSON {
				if err != nil {
					if rep != nil || len(res) > 0 {
						return withReport(err, map[string]any{"verify": rep, "published": res})
					}
					return err
				}
				if res == nil {
					res = []bundle.PublishResult{}
				}
				return a.printJSON(map[string]any{"published": res})
			}
			for _, r := range res {
				if r.Outcome == bundle.OutcomeFailed {
					fmt.Fprintf(a.Stdout, "%s\tfailed: %s\n", r.GUN, r.Error)
					continue
				}
				fmt.Fprintf(a.Stdout, "%s\troot v%d\troot key %s\t%s, verified by notary client\n", r.GUN, r.RootVersion, shortIDs(r.RootKeyIDs), r.Outcome)
			}
			return err
		},
	}
	serverFlags(c, &o.Server)
	concurrencyFlag(c, &o.Server)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "check and show per GUN what the upload would change (as keyrite diff), upload nothing")
	return c
}
