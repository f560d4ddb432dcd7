package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/keyrite/keyrite/bundle"
	"github.com/spf13/cobra"
)

func newStatusCmd(a *App) *cobra.Command {
	var (
		srv    bundle.Server
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "status --server URL GUN...",
		Short: "Online: versions, root expiry and signers of repositories, as notary's client sees them",
		Example: `  keyrite status --server https://notary.example:4443 --tls-ca ca.crt registry.example.com/org/app
  keyrite status --server URL --json GUN | jq '.[].root_days_left'`,
		Args: minArgs(1, "GUN arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if srv.URL == "" {
				return usagef(cmd, "--server is required")
			}
			if err := checkGUNs(cmd, args); err != nil {
				return err
			}
			st, err := bundle.Status(cmd.Context(), srv, args, a.Now())
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(st)
			}
			w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "GUN\tROOT\tROOT EXPIRES\tDAYS LEFT\tTARGETS\tSIGNERS")
			for _, s := range st {
				if !s.Exists {
					fmt.Fprintf(w, "%s\t-\t-\t-\t-\tnot on the server\n", s.GUN)
					continue
				}
				var names []string
				for n := range s.Signers {
					names = append(names, strings.TrimPrefix(n, "targets/"))
				}
				sort.Strings(names)
				fmt.Fprintf(w, "%s\tv%d (%d of %d keys)\t%s\t%d\tv%d\t%s\n", s.GUN, s.RootVersion, s.RootThreshold, len(s.RootKeyIDs),
					s.RootExpires.Format("2006-01-02"), s.RootDaysLeft, s.TargetsVersion, strings.Join(names, ","))
			}
			w.Flush()
			for _, s := range st {
				for _, warn := range s.Warnings {
					fmt.Fprintf(a.Stderr, "keyrite: warning: %s: %s\n", s.GUN, warn)
				}
			}
			return nil
		},
	}
	serverFlags(c, &srv)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
