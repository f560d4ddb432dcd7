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
		placement                 string
		asJSON                    bool
	)
	c := &cobra.Command{
		Use:   "init --in request/ -o signed/ --root-key URI GUN...",
		Short: "Offline: create new repositories signed by a hardware root key",
		Long: `For every GUN: a root certificate (ecdsa-x509, CN = GUN) signed by the root key,
a targets (repository) key, root.json version 1 with the server's timestamp and
snapshot keys from the request bundle, and an empty targets.json — all signed
through the device, each signature verified in software. One PIN entry per
device for the whole batch. Writes a signed bundle, or nothing.

Where the targets keys go (--targets-placement):
  auto (default)  root key on a YubiKey, no --targets-device: "batch"; else "per-gun"
  per-gun         a new key per GUN, label "targets:GUN", on --targets-device
                  (default: the root key's device)
  batch           one new key for all the GUNs of this run, label
                  "targets-batch:HASH", on the same device
--targets-key URI instead signs every GUN with one existing key.

The trade-off: docker and notary use a repository's targets key to add and
remove signers (docker trust signer add) and to renew targets.json; keyrite
keeps it offline next to the root key, and signers sign day to day with their
delegation keys. On one device a key per GUN separates nothing: whoever holds
the YubiKey and its PIN holds every slot, and its root key signs every GUN's
root anyway. A YubiKey has 20 retired slots, so per-GUN keys stop at about 20
GUNs; a batch key takes one slot for 500 GUNs. A batch key is one key for all
its GUNs: if it leaks, rotate the targets key of every GUN of the batch
(keyrite rotate targets). Keep per-GUN keys (--targets-device on a PKCS#11
token) when a repository's key is to be handed to its own team.

Before anything is created keyrite checks that the targets device can hold the
new keys (a YubiKey's free slots, a token's free memory where it reports it)
and refuses, naming the numbers, when it cannot. New targets keys on a YubiKey
get --targets-touch-policy (default cached: one touch per 15 seconds of
signing instead of one per GUN); the root key's own touch policy was chosen
when it was generated (always: two touches per GUN).

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
  # 500 GUNs with the root key on a YubiKey: one targets key for the batch (the default)
  keyrite init --in request/ -o signed/ --root-key 'yubikey:serial=12345678;slot=9c' \
      --pin-file 'yubikey:serial=12345678=yk-pin.txt' $(cat guns.txt)
  # per-GUN targets keys on an HSM, the root key on a YubiKey: one PIN file per device
  keyrite init --in request/ -o signed/ --root-key 'yubikey:serial=12345678;slot=9c' \
      --targets-device 'pkcs11:token=targets' --pin-file 'yubikey:serial=12345678=yk-pin.txt' \
      --pin-file 'pkcs11:token=targets=hsm-pin.txt' $(cat guns.txt)
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
			switch placement {
			case "auto":
				o.TargetsPlacement = ceremony.PlacementAuto
			case ceremony.PlacementPerGUN, ceremony.PlacementBatch:
				o.TargetsPlacement = placement
			default:
				return usagef(cmd, "--targets-placement %q: use auto, per-gun or batch", placement)
			}
			if o.TargetsKey != "" && o.TargetsPlacement != ceremony.PlacementAuto {
				return usagef(cmd, "--targets-key signs every GUN with one existing key: drop --targets-placement")
			}
			switch o.TargetsTouchPolicy {
			case "always", "cached", "never":
			default:
				return usagef(cmd, "--targets-touch-policy %q: use always, cached or never", o.TargetsTouchPolicy)
			}
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
	c.Flags().StringVar(&placement, "targets-placement", "auto", "auto, per-gun (a targets key per GUN) or batch (one targets key for the GUNs of this run); see above")
	c.Flags().StringVar(&o.TargetsTouchPolicy, "targets-touch-policy", ceremony.DefaultTargetsTouchPolicy, "YubiKey: touch policy of new targets keys (always, cached or never)")
	c.Flags().StringVar(&rootExpiry, "root-expiry", "10y", "root validity (at least 183d)")
	c.Flags().StringVar(&targetsExpiry, "targets-expiry", "3y", "targets validity")
	c.Flags().BoolVar(&o.RequireAttestation, "require-attestation", false, "refuse root keys without a verified device attestation (YubiKey attested mode); without it, a key whose attestation does not verify is used, with a warning, and recorded as not attested")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	a.addLeftoverFlags(c)
	return c
}
