package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/trust"
	"github.com/spf13/cobra"
)

func newRehearseCmd(a *App) *cobra.Command {
	var (
		o      ceremony.RehearseOptions
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "rehearse [GUN...]",
		Short: "Rehearse a whole ceremony on the software token (no hardware, nothing installed)",
		Long: `Run the whole flow end to end on the embedded software token: generate a root
key, fetch the server's keys, init the repositories, verify the signed
bundle and publish it, reading every repository back with notary's client
code. Without --server, notary's own server code runs in-process on
127.0.0.1 with memory storage. Everything is written under --dir.

The software token is for rehearsals only: its keys are not on hardware.`,
		Example: `  keyrite rehearse
  keyrite rehearse --dir /tmp/rehearsal registry.example.com/org/app
  keyrite rehearse --server https://localhost:4443 --tls-ca ca.crt`,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, g := range args {
				if err := trust.ValidateGUN(g); err != nil {
					return usagef(cmd, "%v", err)
				}
			}
			o.GUNs, o.Now = args, a.Now
			if !asJSON {
				o.Log = a.Stderr
			}
			res, err := ceremony.Rehearse(cmd.Context(), a.env(), o)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(res)
			}
			a.warnSoftware(true)
			w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "GUN\tROOT VERSION\tROOT KEY ID (docker \"Root Key\")\tPUBLISHED")
			for _, p := range res.Published {
				fmt.Fprintf(w, "%s\t%d\t%s\tverified by notary client\n", p.GUN, p.RootVersion, p.RootKeyIDs[0])
			}
			w.Flush()
			fmt.Fprintf(a.Stdout, "rehearsal complete in %s: root key %s, signed bundle %s/signed verified and published to %s\n(%s)\n",
				res.Dir, res.RootKey.CanonicalID, res.Dir, res.Server, res.Rehearsal)
			return nil
		},
	}
	c.Flags().StringVar(&o.Dir, "dir", "keyrite-rehearsal", "directory to create for the rehearsal's token and bundles")
	serverFlags(c, &o.Server)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
