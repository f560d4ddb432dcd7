package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/trust"
	"github.com/spf13/cobra"
)

func newInitCmd(a *App) *cobra.Command {
	var (
		o                         ceremony.InitOptions
		rootExpiry, targetsExpiry string
		asJSON                    bool
	)
	c := &cobra.Command{
		Use:   "init --in request/ -o signed/ --root-key URI GUN...",
		Short: "Offline: create new repositories signed by a hardware root key",
		Long: `For every GUN: a root certificate (ecdsa-x509, CN = GUN) signed by the root key,
a targets key on the device (default: the root key's device, label
"targets:GUN"), root.json version 1 with the server's timestamp and snapshot
keys from the request bundle, and an empty targets.json — all signed through
the device, each signature verified in software. One PIN entry per device for
the whole batch. Writes a signed bundle, or nothing.

Every new targets key is announced in keyrite's journal (under --state-dir)
before the device makes it. SIGINT or SIGTERM rolls back: the keys this run
made are destroyed and nothing is written. A run killed outright leaves its
journal: the next init on the device lists the keys it left and asks once
whether to destroy them (remove) or reuse them (resume); --clean-leftovers or
--resume answer in advance.`,
		Example: `  keyrite init --in request/ -o signed/ --root-key 'pkcs11:token=ceremony;object=root' \
      --pin-file pin.txt registry.example.com/org/app registry.example.com/org/web
  keyrite init --in request/ -o signed/ --root-key softkey:file=rehearsal.softkey\;object=root \
      --root-expiry 5y example.com/app
  # after a crash: reuse the targets keys the killed run made for these GUNs
  keyrite init --in request/ -o signed/ --root-key 'pkcs11:token=ceremony;object=root' --resume \
      registry.example.com/org/app registry.example.com/org/web`,
		Args: minArgs(1, "GUN arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Request == "" || o.Out == "" || len(o.RootKeys) == 0 {
				return usagef(cmd, "--in, -o and --root-key are required")
			}
			if err := checkURIs(cmd, "--root-key", o.RootKeys...); err != nil {
				return err
			}
			if err := checkURIs(cmd, "--targets-key/--targets-device", o.TargetsKey, o.TargetsDevice); err != nil {
				return err
			}
			var err error
			if o.RootExpiry, o.TargetsExpiry, err = parseExpiries(cmd, rootExpiry, targetsExpiry); err != nil {
				return err
			}
			for _, g := range args {
				if err := trust.ValidateGUN(g); err != nil {
					return usagef(cmd, "%v", err)
				}
			}
			o.GUNs = args
			res, err := ceremony.Init(cmd.Context(), a.batchEnv("signed", asJSON), o)
			if err != nil {
				return err
			}
			if done, err := a.jsonOrBanner(res, asJSON, res.Rehearsal); done {
				return err
			}
			w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "GUN\tROOT KEY ID\tTARGETS KEY ID\tROOT EXPIRES")
			for _, r := range res.Repos {
				for _, id := range r.RootKeyIDs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.GUN, id, r.TargetsKeyID, r.RootExpires.Format("2006-01-02"))
				}
			}
			w.Flush()
			fmt.Fprintf(a.Stdout, "signed %d repositories (%d device signatures, each verified) into %s for %s\n",
				len(res.Repos), res.Signatures, res.Out, res.Server)
			if res.Rehearsal {
				fmt.Fprintf(a.Stdout, "(%s)\n", hsm.SoftwareLabel)
			}
			return nil
		},
	}
	c.Flags().StringVar(&o.Request, "in", "", "request bundle made by keyrite fetch")
	c.Flags().StringVarP(&o.Out, "out", "o", "", "signed bundle to create: a directory, or one file if it ends in .tar")
	c.Flags().StringArrayVar(&o.RootKeys, "root-key", nil, "root key URI (repeat for several root keys)")
	c.Flags().IntVar(&o.RootThreshold, "root-threshold", 1, "root keys needed to sign root")
	c.Flags().StringVar(&o.TargetsKey, "targets-key", "", "existing targets key for every GUN (default: a new key per GUN)")
	c.Flags().StringVar(&o.TargetsDevice, "targets-device", "", "device for new targets keys (default: the root key's device)")
	c.Flags().StringVar(&rootExpiry, "root-expiry", "10y", "root validity (at least 183d)")
	c.Flags().StringVar(&targetsExpiry, "targets-expiry", "3y", "targets validity")
	c.Flags().BoolVar(&o.RequireAttestation, "require-attestation", false, "refuse root keys without a verified device attestation (YubiKey attested mode); without it, a key whose attestation does not verify is used, with a warning, and recorded as not attested")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	a.addLeftoverFlags(c)
	return c
}
