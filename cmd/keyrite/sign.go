package main

import (
	"github.com/keyrite/keyrite/ceremony"
	"github.com/spf13/cobra"
)

func newSignCmd(a *App) *cobra.Command {
	var (
		o      ceremony.SignOptions
		asJSON bool
		tofu   tofuFlag
	)
	c := &cobra.Command{
		Use:   "sign BUNDLE --key URI -o NEW_BUNDLE",
		Short: "Offline: add one more holder's signatures to a bundle (threshold roots)",
		Long: `Add this holder's signatures to every piece of metadata in the bundle that
the key may sign, writing a new bundle whose transcript continues the old
one. keyrite verify then reports, per GUN and role, who has signed and
whether each threshold is met.`,
		Example: `  keyrite sign signed/ --key 'pkcs11:token=alice;object=root' -o signed-alice/
  keyrite verify signed-alice/`,
		Args: exactArgs(1, "one bundle directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Out == "" || len(o.Keys) == 0 {
				return usagef(cmd, "--key and -o are required")
			}
			if err := checkURIs(cmd, "--key", o.Keys...); err != nil {
				return err
			}
			o.Bundle = args[0]
			env := a.env()
			var err error
			if env.TOFU, err = tofu.parse(cmd); err != nil {
				return err
			}
			res, err := ceremony.Sign(cmd.Context(), env, o)
			if err != nil {
				return err
			}
			return printUpdate(a, res, asJSON)
		},
	}
	c.Flags().StringArrayVar(&o.Keys, "key", nil, "key URI of this holder (repeat for several)")
	c.Flags().StringVarP(&o.Out, "out", "o", "", "new bundle to create: a directory, or one file if it ends in .tar")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	addTOFUFlag(c, &tofu)
	return c
}
