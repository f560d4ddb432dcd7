package main

import (
	"github.com/keyrite/keyrite/ceremony"
	"github.com/spf13/cobra"
)

func newRefreshCmd(a *App) *cobra.Command {
	var (
		o                         ceremony.RefreshOptions
		f                         = updateFlags{o: &o.UpdateOptions}
		rootExpiry, targetsExpiry string
	)
	c := &cobra.Command{
		Use:   "refresh --in request/ -o signed/ --root-key URI GUN...",
		Short: "Offline: re-sign root with a new version and expiry, nothing else changed",
		Long: `Re-sign each repository's root (and with --targets its targets) with the next
version and a new expiry. Refused when the expiry is inside the six months
in which notary clients start re-signing root themselves. The root keeps
its certificates, so its expiry never goes past theirs (the bundle and
transcript record the expiry used); when they expire within six months,
rotate root instead. With a threshold root, the keys at hand sign and the
other holders add theirs with keyrite sign.`,
		Example: `  keyrite refresh --in request/ -o signed/ --root-key 'pkcs11:token=ceremony;object=root' GUN1 GUN2
  keyrite refresh --in request/ -o signed/ --root-key URI --targets --targets-key URI --root-expiry 5y GUN`,
		Args: minArgs(1, "GUN arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.prepare(a, cmd, args); err != nil {
				return err
			}
			var err error
			if o.RootExpiry, o.TargetsExpiry, err = parseExpiries(cmd, rootExpiry, targetsExpiry); err != nil {
				return err
			}
			if o.Targets && f.targetsKey == "" {
				return usagef(cmd, "--targets needs --targets-key")
			}
			res, err := ceremony.Refresh(cmd.Context(), f.env(a), o)
			if err != nil {
				return err
			}
			return printUpdate(a, res, f.asJSON)
		},
	}
	addUpdateFlags(c, &f, true)
	c.Flags().StringVar(&rootExpiry, "root-expiry", "10y", "new root validity from now (at least 183d)")
	c.Flags().BoolVar(&o.Targets, "targets", false, "also re-sign targets with a new version and expiry")
	c.Flags().StringVar(&targetsExpiry, "targets-expiry", "3y", "new targets validity from now (with --targets)")
	return c
}
