package main

import (
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/trust"
	"github.com/spf13/cobra"
)

func newSignerCmd(a *App) *cobra.Command {
	return group(&cobra.Command{Use: "signer", Short: "Offline: add or remove docker signers (delegations)"},
		newSignerAddCmd(a), newSignerRemoveCmd(a))
}

func newSignerAddCmd(a *App) *cobra.Command {
	var (
		o ceremony.SignerOptions
		f = updateFlags{o: &o.UpdateOptions}
	)
	c := &cobra.Command{
		Use:   "add --in request/ -o signed/ --targets-key URI GUN NAME --key signer.pub",
		Short: "Add a signer exactly as docker trust signer add does",
		Long: `Add targets/NAME and targets/releases with the signer's keys to targets.json,
signed by the repository's targets key. Keys are the PUBLIC KEY PEM files
docker trust key generate writes, or certificate PEMs; ECDSA or RSA only.`,
		Example: `  docker trust key generate ci --dir .
  keyrite signer add --in request/ -o signed/ --targets-key 'pkcs11:token=ceremony;object=targets:GUN' GUN ci --key ci.pub`,
		Args: exactArgs(2, "GUN and NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.prepare(a, cmd, args[:1]); err != nil {
				return err
			}
			if len(o.KeyFiles) == 0 || f.targetsKey == "" {
				return usagef(cmd, "--key and --targets-key are required")
			}
			if _, err := trust.SignerRole(args[1]); err != nil {
				return usagef(cmd, "%v", err)
			}
			o.Name = args[1]
			res, err := ceremony.AddSigner(cmd.Context(), f.env(a), o)
			if err != nil {
				return err
			}
			return printUpdate(a, res, f.asJSON)
		},
	}
	addUpdateFlags(c, &f, true)
	c.Flags().StringArrayVar(&o.KeyFiles, "key", nil, "signer public key or certificate PEM (repeat for several)")
	c.Flags().IntVar(&o.Threshold, "threshold", 1, "signatures of targets/NAME needed")
	return c
}

func newSignerRemoveCmd(a *App) *cobra.Command {
	var (
		o ceremony.SignerOptions
		f = updateFlags{o: &o.UpdateOptions}
	)
	c := &cobra.Command{
		Use:   "remove --in request/ -o signed/ --targets-key URI GUN NAME",
		Short: "Remove a signer and its keys from targets/releases",
		Long: `Remove targets/NAME and take its keys out of targets/releases, as docker trust
signer remove does. Removing the last key of targets/releases (nobody could
sign new tags) needs --force.`,
		Example: `  keyrite signer remove --in request/ -o signed/ --targets-key URI GUN ci`,
		Args:    exactArgs(2, "GUN and NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.prepare(a, cmd, args[:1]); err != nil {
				return err
			}
			if f.targetsKey == "" {
				return usagef(cmd, "--targets-key is required")
			}
			if _, err := trust.SignerRole(args[1]); err != nil {
				return usagef(cmd, "%v", err)
			}
			o.Name = args[1]
			res, err := ceremony.RemoveSigner(cmd.Context(), f.env(a), o)
			if err != nil {
				return err
			}
			return printUpdate(a, res, f.asJSON)
		},
	}
	addUpdateFlags(c, &f, true)
	c.Flags().BoolVar(&o.Force, "force", false, "allow removing the last key of targets/releases")
	return c
}
