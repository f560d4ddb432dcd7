package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/recovery"
)

func newRecoverCmd(a *App) *cobra.Command {
	return group(&cobra.Command{Use: "recover", Short: "Recover after a lost or broken device"}, newRecoverRestoreCmd(a))
}

func newRecoverRestoreCmd(a *App) *cobra.Command {
	var (
		sf     shareFlags
		o      recovery.RestoreOptions
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "restore --to URI -o RECORD/ --identity FILE... SHARE...",
		Short: "Restore a backed-up key from custodians' shares onto a device",
		Long: `After a device was lost or broke: the custodians present their identities,
keyrite recombines the key in memory from their shares, imports it into the
device --to (a YubiKey slot or a PKCS#11 token) under the label the backup
recorded (or --label), checks that the device signs with it, wipes it, and
writes a record directory (-o) with the transcript. The restored key has the
same key ID: the repositories it signs need no change.`,
		Example: `  keyrite recover restore --to 'pkcs11:token=new-hsm' -o restore-2026-11/ \
      -i alice.key -i bob.key alice.share.age bob.share.age
  keyrite recover restore --to 'yubikey:serial=12345678;slot=9c' -o restore/ -j yubikey carol.share.age dave.share.age`,
		Args: minArgs(1, "share files"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.To == "" || o.Out == "" {
				return usagef(cmd, "--to and -o are required")
			}
			if err := checkURIs(cmd, "--to", o.To); err != nil {
				return err
			}
			in, err := sf.inputs(a, cmd, args)
			if err != nil {
				return err
			}
			o.ShareInputs = in
			res, err := recovery.Restore(cmd.Context(), a.env(), o)
			if err != nil {
				return err
			}
			if done, err := a.jsonOrBanner(res, asJSON, res.Rehearsal); done {
				return err
			}
			fmt.Fprintf(a.Stdout, "restored %s key %q from shares %v (threshold %d)\n  key ID:   %s\n",
				res.Algorithm, res.Label, res.SharesUsed, res.Threshold, res.CanonicalID)
			a.printWords(res.CanonicalID)
			fmt.Fprintf(a.Stdout, "  imported: %s (signature verified)\n  record:   %s\n", res.URI, res.Out)
			fmt.Fprintln(a.Stdout, "the key was wiped from this computer's memory")
			if res.Rehearsal {
				fmt.Fprintf(a.Stdout, "(%s)\n", hsm.SoftwareLabel)
			}
			return nil
		},
	}
	sf.add(c)
	c.Flags().StringVar(&o.To, "to", "", "device to restore onto, e.g. pkcs11:token=new or yubikey:serial=N;slot=9c")
	c.Flags().StringVar(&o.Label, "label", "", "label of the restored key (default: the label the backup recorded)")
	c.Flags().StringVarP(&o.Out, "out", "o", "", "restore record directory to create (transcript)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	a.addLeftoverFlags(c)
	return c
}
