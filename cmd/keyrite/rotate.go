package main

import (
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/recovery"
	"github.com/spf13/cobra"
)

func newRotateCmd(a *App) *cobra.Command {
	return group(&cobra.Command{Use: "rotate", Short: "Offline: replace the root or targets keys of repositories"},
		newRotateRootCmd(a), newRotateTargetsCmd(a), newRotateSnapshotCmd(a))
}

func newRotateRootCmd(a *App) *cobra.Command {
	var (
		o          ceremony.RotateRootOptions
		f          = updateFlags{o: &o.UpdateOptions}
		rootExpiry string
	)
	c := &cobra.Command{
		Use:   "root --in request/ -o signed/ --root-key OLD --new-root-key NEW [--threshold k] GUN...",
		Short: "Replace the root keys; signed by a threshold of the old keys and of the new",
		Long: `Give each repository a root with new root keys (a certificate per key and
GUN). Clients that trust the current root accept the new one only if a
threshold of the CURRENT root keys signed it, so keyrite refuses, before
signing anything, when the keys at hand (--root-key) cannot meet it, and
names the missing key IDs. The new keys sign too; with --threshold k the
new root needs k of them.`,
		Example: `  keyrite rotate root --in request/ -o signed/ --root-key 'pkcs11:token=ceremony;object=root-2026' \
      --new-root-key 'pkcs11:token=ceremony;object=root-2027' GUN1 GUN2
  keyrite rotate root --in request/ -o signed/ --root-key OLD --threshold 2 \
      --new-root-key URI1 --new-root-key URI2 --new-root-key URI3 GUN`,
		Args: minArgs(1, "GUN arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.prepare(a, cmd, args); err != nil {
				return err
			}
			if len(o.NewRootKeys) == 0 {
				return usagef(cmd, "--new-root-key is required")
			}
			if err := checkURIs(cmd, "--new-root-key", o.NewRootKeys...); err != nil {
				return err
			}
			var err error
			if o.RootExpiry, err = parseExpiry(rootExpiry); err != nil {
				return usagef(cmd, "--root-expiry: %v", err)
			}
			res, err := ceremony.RotateRoot(cmd.Context(), f.env(a), o)
			if err != nil {
				return err
			}
			return printUpdate(a, res, f.asJSON)
		},
	}
	addUpdateFlags(c, &f, false)
	c.Flags().StringArrayVar(&o.NewRootKeys, "new-root-key", nil, "a new root key (repeat for several)")
	c.Flags().IntVar(&o.Threshold, "threshold", 1, "new root keys needed to sign root")
	c.Flags().StringVar(&rootExpiry, "root-expiry", "10y", "new root validity from now (at least 183d)")
	return c
}

func newRotateTargetsCmd(a *App) *cobra.Command {
	var (
		o recovery.TargetsOptions
		f = updateFlags{o: &o.UpdateOptions}
	)
	c := &cobra.Command{
		Use:   "targets --in request/ -o signed/ --root-key URI --new-targets-key URI GUN...",
		Short: "Recover from a lost or compromised repository (targets) key",
		Long: `Name a new targets key in root (re-signed by the root keys) and re-sign the
existing targets.json, its targets and delegations unchanged, with it.
Tags published before, and delegations' signing, stay valid.`,
		Example: `  keyrite key generate --device 'pkcs11:token=ceremony' --label targets-2
  keyrite rotate targets --in request/ -o signed/ --root-key 'pkcs11:token=ceremony;object=root' \
      --new-targets-key 'pkcs11:token=ceremony;object=targets-2' GUN`,
		Args: minArgs(1, "GUN arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.prepare(a, cmd, args); err != nil {
				return err
			}
			if err := requireURI(cmd, "--new-targets-key", o.NewTargetsKey); err != nil {
				return err
			}
			res, err := recovery.Targets(cmd.Context(), f.env(a), o)
			if err != nil {
				return err
			}
			return printUpdate(a, res, f.asJSON)
		},
	}
	addUpdateFlags(c, &f, false)
	c.Flags().StringVar(&o.NewTargetsKey, "new-targets-key", "", "URI of the new targets key")
	return c
}

func newRotateSnapshotCmd(a *App) *cobra.Command {
	var (
		o  ceremony.RotateSnapshotOptions
		f  = updateFlags{o: &o.UpdateOptions}
		to string
	)
	c := &cobra.Command{
		Use:   "snapshot --in request/ -o signed/ --root-key URI --to client|server [--snapshot-key URI] GUN...",
		Short: "Switch between a server-managed and a client-managed snapshot key",
		Long: `Name in root either the server's snapshot key (the server signs every
snapshot: docker's default), or a client snapshot key (--to client
--snapshot-key URI). With a client-managed snapshot, every later change
carries a snapshot signed by that key: keyrite asks for it with
--snapshot-key in refresh, rotate and signer, and a delegation's publish
needs it too.`,
		Example: `  keyrite rotate snapshot --in request/ -o signed/ --root-key URI --to client \
      --snapshot-key 'pkcs11:token=ceremony;object=snapshot' GUN
  keyrite rotate snapshot --in request/ -o signed/ --root-key URI --to server GUN`,
		Args: minArgs(1, "GUN arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.prepare(a, cmd, args); err != nil {
				return err
			}
			switch to {
			case "client":
				if f.snapshotKey == "" {
					return usagef(cmd, "--to client needs --snapshot-key")
				}
				o.ToClient, o.SnapshotKey = true, f.snapshotKey
			case "server":
			default:
				return usagef(cmd, "--to must be client or server")
			}
			res, err := ceremony.RotateSnapshot(cmd.Context(), f.env(a), o)
			if err != nil {
				return err
			}
			return printUpdate(a, res, f.asJSON)
		},
	}
	addUpdateFlags(c, &f, false)
	c.Flags().StringVar(&to, "to", "", "client or server")
	return c
}
