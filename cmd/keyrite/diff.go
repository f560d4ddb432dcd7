package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/spf13/cobra"
)

func newDiffCmd(a *App) *cobra.Command {
	var (
		o      ceremony.DiffOptions
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "diff BUNDLE --server URL",
		Short: "Online: show what publishing a signed bundle would change on the server",
		Long: `Verify the signed bundle, then compare, per GUN, what the server serves now with
what the upload would make it serve: versions and expiries, the keys and
thresholds of root, targets, snapshot and timestamp, and the delegations with
their keys, thresholds and paths, and the tags of the delegation roles it
re-signs (incident, revoke). Nothing is uploaded. A bundle still waiting
for other holders' signatures is shown too; publish --dry-run is the same
preview after every check publish makes.`,
		Example: `  keyrite diff signed/ --server https://notary.example:4443 --tls-ca ca.crt
  keyrite diff signed.tar --server URL --json | jq '.diff[].changes'`,
		Args: exactArgs(1, "one bundle (directory or .tar)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Server.URL == "" {
				return usagef(cmd, "--server is required")
			}
			o.Bundle, o.Now, o.Verify = args[0], a.Now(), a.env().VerifyOptions()
			return runDiff(a, cmd, o, asJSON)
		},
	}
	serverFlags(c, &o.Server)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// runDiff shows a preview (diff, publish --dry-run).
func runDiff(a *App, cmd *cobra.Command, o ceremony.DiffOptions, asJSON bool) error {
	rep, d, err := ceremony.Diff(cmd.Context(), o)
	if err != nil {
		if asJSON && rep != nil {
			return withReport(err, map[string]any{"verify": rep})
		}
		return err
	}
	if d == nil {
		d = []bundle.RepoDiff{}
	}
	if asJSON {
		return a.printJSON(map[string]any{"diff": d, "complete": rep.OK})
	}
	a.warnSoftware(rep.Rehearsal)
	printDiff(a.Stdout, d)
	if !rep.OK {
		fmt.Fprintln(a.Stdout, "(the bundle is not fully signed yet: publish refuses it until the other holders sign)")
	}
	return nil
}

func printDiff(out io.Writer, d []bundle.RepoDiff) {
	for _, r := range d {
		state := ""
		switch {
		case r.New:
			state = " (new repository)"
		case r.Same:
			state = " (already published: no change)"
		}
		fmt.Fprintf(out, "%s%s\n", r.GUN, state)
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, c := range r.Changes {
			var what []string
			if c.From != "" || c.To != "" {
				what = append(what, fmt.Sprintf("%s -> %s", orNone(c.From), orNone(c.To)))
			}
			for _, k := range c.Added {
				what = append(what, "+"+shortIDs([]string{k}))
			}
			for _, k := range c.Removed {
				what = append(what, "-"+shortIDs([]string{k}))
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\n", c.Role, c.Field, strings.Join(what, " "))
		}
		w.Flush()
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
