package main

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/spf13/cobra"
)

func newStatusCmd(a *App) *cobra.Command {
	var (
		srv          bundle.Server
		asJSON       bool
		warn, format string
		out          string
	)
	c := &cobra.Command{
		Use:   "status --server URL [--warn 180d] [--format text|json|prometheus [-o FILE]] GUN...",
		Short: "Online: versions, expiries and signers of repositories, as notary's client sees them",
		Long: `Read each repository with notary's client code and show its root (version,
threshold, expiry), targets and delegations (expiry each) and signers.

--warn DURATION exits 1 when any root, targets or delegation expires within
DURATION (e.g. 180d), naming them: a check for cron or CI. --format prometheus
writes the node_exporter textfile format (days to expiry per GUN and role);
with -o FILE it is written atomically, replacing FILE, so the textfile
collector never reads half a file.`,
		Example: `  keyrite status --server https://notary.example:4443 --tls-ca ca.crt registry.example.com/org/app
  keyrite status --server URL --json GUN | jq '.[].root_days_left'
  keyrite status --server URL --warn 200d GUN...          # exit 1 inside the window
  keyrite status --server URL --format prometheus -o /var/lib/node_exporter/textfile/keyrite.prom GUN...`,
		Args: minArgs(1, "GUN arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if srv.URL == "" {
				return usagef(cmd, "--server is required")
			}
			if err := checkGUNs(cmd, args); err != nil {
				return err
			}
			if asJSON {
				if format != "" && format != "json" {
					return usagef(cmd, "--json and --format %s disagree", format)
				}
				format = "json"
			}
			switch format {
			case "":
				format = "text"
			case "text", "json", "prometheus":
			default:
				return usagef(cmd, "--format: %q is not text, json or prometheus", format)
			}
			if out != "" && format != "prometheus" {
				return usagef(cmd, "-o is for --format prometheus")
			}
			var window time.Duration
			if warn != "" {
				w, err := parseExpiry(warn)
				if err != nil {
					return usagef(cmd, "--warn: %v", err)
				}
				window = w
			}
			now := a.Now()
			st, err := bundle.Status(cmd.Context(), srv, args, now)
			if err != nil {
				return err
			}
			var expiring error
			if window > 0 {
				expiring = bundle.CheckExpiries(st, window)
			}
			switch format {
			case "json":
				if expiring != nil {
					return withReport(expiring, st)
				}
				return a.printJSON(st)
			case "prometheus":
				var b bytes.Buffer
				if err := bundle.WritePrometheus(&b, st, now); err != nil {
					return err
				}
				if out != "" {
					if err := fsutil.WriteFile(out, b.Bytes(), 0o644, true); err != nil {
						return err
					}
				} else if _, err := a.Stdout.Write(b.Bytes()); err != nil {
					return err
				}
				return expiring
			}
			printStatus(a, st)
			return expiring
		},
	}
	serverFlags(c, &srv)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON (same as --format json)")
	c.Flags().StringVar(&warn, "warn", "", "exit 1 when a root, targets or delegation expires within this long (e.g. 180d)")
	c.Flags().StringVar(&format, "format", "", "text (default), json or prometheus (node_exporter textfile)")
	c.Flags().StringVarP(&out, "out", "o", "", "with --format prometheus: write this file atomically instead of stdout")
	return c
}

func printStatus(a *App, st []bundle.RepoStatus) {
	w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "GUN\tROOT\tROOT EXPIRES\tDAYS LEFT\tTARGETS\tTARGETS EXPIRES\tDELEGATIONS EXPIRE\tSIGNERS")
	for _, s := range st {
		if !s.Exists {
			fmt.Fprintf(w, "%s\t-\t-\t-\t-\t-\t-\tnot on the server\n", s.GUN)
			continue
		}
		var names []string
		for n := range s.Signers {
			names = append(names, strings.TrimPrefix(n, "targets/"))
		}
		sort.Strings(names)
		targetsExp, dels := "-", []string{}
		for _, r := range s.Expiries {
			switch r.Kind() {
			case "targets":
				targetsExp = fmt.Sprintf("%s (%dd)", r.Expires.Format("2006-01-02"), int(r.DaysLeft))
			case "delegation":
				dels = append(dels, fmt.Sprintf("%s %s (%dd)", strings.TrimPrefix(r.Role, "targets/"), r.Expires.Format("2006-01-02"), int(r.DaysLeft)))
			}
		}
		if len(dels) == 0 {
			dels = []string{"-"}
		}
		fmt.Fprintf(w, "%s\tv%d (%d of %d keys)\t%s\t%d\tv%d\t%s\t%s\t%s\n", s.GUN, s.RootVersion, s.RootThreshold, len(s.RootKeyIDs),
			s.RootExpires.Format("2006-01-02"), s.RootDaysLeft, s.TargetsVersion, targetsExp, strings.Join(dels, ", "), strings.Join(names, ","))
	}
	w.Flush()
	for _, s := range st {
		for _, warn := range s.Warnings {
			fmt.Fprintf(a.Stderr, "keyrite: warning: %s: %s\n", s.GUN, warn)
		}
	}
}
