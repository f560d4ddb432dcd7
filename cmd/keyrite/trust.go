package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/trust"
	"github.com/keyrite/keyrite/trust/store"
	"github.com/spf13/cobra"
)

func newTrustCmd(a *App) *cobra.Command {
	return group(&cobra.Command{Use: "trust", Short: "The roots this air-gapped machine trusts, per GUN (the trust store)",
		Long: `The trust store holds, for each GUN, the root.json this machine last signed or
verified. Current metadata from a request bundle is accepted only by walking
the root chain from that pin, version by version, each root signed by a
threshold of the previous root's keys and its own: a compromised online
machine cannot slip in a root key. --trust-dir chooses the store (default:
keyrite/trust under $XDG_CONFIG_HOME or ~/.config).`},
		newTrustListCmd(a), newTrustImportCmd(a), newTrustExportCmd(a), newTrustForgetCmd(a))
}

func newTrustListCmd(a *App) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List the pinned roots",
		Example: `  keyrite trust list
  keyrite trust list --json --trust-dir /media/ceremony/trust`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			env := a.env()
			var pins []store.Pin
			if env.Trust != nil {
				var err error
				if pins, err = env.Trust.List(); err != nil {
					return err
				}
			}
			if asJSON {
				if pins == nil {
					pins = []store.Pin{}
				}
				return a.printJSON(pins)
			}
			if len(pins) == 0 {
				fmt.Fprintln(a.Stdout, "nothing is pinned")
				return nil
			}
			w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "GUN\tROOT VERSION\tROOT KEY IDS\tSOURCE\tPINNED")
			for _, p := range pins {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", p.GUN, p.Version, trust.ListIDs(p.RootKeyIDs, true), p.Source, p.PinnedAt.Format("2006-01-02 15:04"))
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newTrustImportCmd(a *App) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "import BUNDLE",
		Short: "Pin the roots of a signed bundle or a trust export made on another air-gapped machine",
		Long: `Import a signed bundle (a co-holder's ceremony, verified first) or a directory
written by keyrite trust export. A GUN pinned here already moves only along a
valid root chain from its pin; a GUN not pinned here is pinned as the import
says, so import only media you trust. Every GUN is checked before any is
pinned: one refused, none is.`,
		Example: `  keyrite trust import /media/usb/signed-rotation/
  keyrite trust import /media/usb/trust-export/`,
		Args: exactArgs(1, "one bundle directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := ceremony.TrustImport(a.env(), args[0])
			if errors.As(err, new(*trust.ChainError)) {
				// Not a request bundle: the generic chain hint would say so.
				return &importChainError{err}
			}
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(res)
			}
			for _, ch := range res {
				switch {
				case ch.Previous == 0:
					fmt.Fprintf(a.Stdout, "%s: pinned root version %d\n", ch.GUN, ch.Version)
				default:
					fmt.Fprintf(a.Stdout, "%s: %s (root version %d, was %d)\n", ch.GUN, ch.Action, ch.Version, ch.Previous)
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newTrustExportCmd(a *App) *cobra.Command {
	var (
		out    string
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "export -o DIR [GUN...]",
		Short: "Write the pinned roots (all, or the GUNs named) for another air-gapped machine",
		Example: `  keyrite trust export -o /media/usb/trust/
  keyrite trust export -o /media/usb/trust/ registry.example.com/org/app`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef(cmd, "-o is required")
			}
			if err := checkGUNs(cmd, args); err != nil {
				return err
			}
			pins, err := ceremony.TrustExport(a.env(), out, args)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(pins)
			}
			var guns []string
			for _, p := range pins {
				guns = append(guns, fmt.Sprintf("%s (v%d)", p.GUN, p.Version))
			}
			fmt.Fprintf(a.Stdout, "exported %d pins to %s: %s\n", len(pins), out, strings.Join(guns, ", "))
			return nil
		},
	}
	c.Flags().StringVarP(&out, "out", "o", "", "trust bundle to create: a directory, or one file if it ends in .tar")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newTrustForgetCmd(a *App) *cobra.Command {
	var (
		keep    int
		confirm string
		asJSON  bool
	)
	c := &cobra.Command{
		Use:   "forget GUN",
		Short: "Drop the pin of a GUN (a root signed here but never published, from a discarded bundle)",
		Long: `Drop a GUN's pin, or with --keep-version take it back to an earlier version
this machine holds. The GUN is asked for, typed back. Afterwards the GUN is
trusted again only by keyrite trust import or on first use.`,
		Example: `  keyrite trust forget registry.example.com/org/app
  keyrite trust forget registry.example.com/org/app --keep-version 3 --confirm-gun registry.example.com/org/app`,
		Args: exactArgs(1, "one GUN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkGUNs(cmd, args); err != nil {
				return err
			}
			env := a.env()
			if confirm != "" {
				env.Confirm = func(session.Confirmation) (string, error) { return confirm, nil }
			}
			p, err := ceremony.TrustForget(env, args[0], keep)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(map[string]any{"gun": args[0], "pin": p})
			}
			if p == nil {
				fmt.Fprintf(a.Stdout, "%s: no longer pinned\n", args[0])
			} else {
				fmt.Fprintf(a.Stdout, "%s: pinned at root version %d again\n", args[0], p.Version)
			}
			return nil
		},
	}
	c.Flags().IntVar(&keep, "keep-version", 0, "take the pin back to this version instead of dropping it")
	c.Flags().StringVar(&confirm, "confirm-gun", "", "the GUN, typed in advance to confirm (for scripts)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// importChainError is a trust import refused because a root the media
// carries does not chain from the one pinned here.
type importChainError struct{ err error }

func (e *importChainError) Error() string { return e.err.Error() }
func (e *importChainError) Unwrap() error { return e.err }
