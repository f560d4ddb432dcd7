package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softkey"
	"github.com/spf13/cobra"
)

func newKeyCmd(a *App) *cobra.Command {
	return group(&cobra.Command{Use: "key", Short: "Generate and list keys on devices"}, newKeyGenerateCmd(a), newKeyListCmd(a))
}

func newKeyGenerateCmd(a *App) *cobra.Command {
	var (
		o      ceremony.GenerateOptions
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "generate --device URI --label LABEL",
		Short: "Generate a root key on a device (non-extractable)",
		Long: `Generate an ECDSA key on a device. On PKCS#11 tokens the key is created with
CKA_TOKEN, CKA_SENSITIVE and not extractable; an existing label is refused.
The key's first signature is verified in software before it is reported.

On a YubiKey the key goes into the slot the URI names (slot=9c), with PIN and
touch policies (default: PIN and touch for every signature), and a
certificate carrying the label is stored in the slot. --mode attested reads
the device's attestation and verifies it against Yubico's roots, the device's
serial and firmware, and the key; init puts it into the signed bundle.`,
		Example: `  keyrite key generate --device 'pkcs11:token=ceremony' --label root-2026
  keyrite key generate --device 'pkcs11:token=ceremony' --label root-p384 --algorithm P-384
  keyrite key generate --device softkey:file=rehearsal.softkey --label root --pin-file pass.txt
  keyrite key generate --device 'yubikey:serial=12345678;slot=9c' --label root-2026 --mode attested`,
		Args: exactArgs(0, "no arguments (use --device and --label)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Device == "" || o.Label == "" {
				return usagef(cmd, "--device and --label are required")
			}
			if err := checkURIs(cmd, "--device", o.Device); err != nil {
				return err
			}
			if _, err := hsm.Curve(o.Algorithm); err != nil {
				return usagef(cmd, "--algorithm: %v", err)
			}
			switch o.Mode {
			case "", ceremony.ModeAttested:
			case "backed-up":
				return usagef(cmd, "--mode backed-up (generate in memory, back up, import) is not available yet; use --mode attested on a YubiKey")
			default:
				return usagef(cmd, "--mode must be attested")
			}
			for flag, v := range map[string]string{"--pin-policy": o.PINPolicy, "--touch-policy": o.TouchPolicy} {
				ok := map[string]bool{"always": true, "never": true, "once": flag == "--pin-policy", "cached": flag == "--touch-policy"}
				if !ok[v] {
					return usagef(cmd, "%s: %q is not a policy (always, never, %s)", flag, v, map[bool]string{true: "once", false: "cached"}[flag == "--pin-policy"])
				}
			}
			k, err := ceremony.GenerateKey(cmd.Context(), a.env(), o)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(k)
			}
			if k.Software {
				fmt.Fprintf(a.Stderr, "keyrite: warning: %s\n", rehearsalBanner)
			}
			fmt.Fprintf(a.Stdout, "generated %s key %q\n  key ID: %s\n  URI:    %s\n", k.Algorithm, k.Label, k.CanonicalID, k.URI)
			if at := k.Attestation; at != nil {
				fmt.Fprintf(a.Stdout, "  attested: YubiKey serial %d, firmware %s, slot %s, PIN %s, touch %s (root %s)\n",
					at.Serial, at.Firmware, at.Slot, at.PINPolicy, at.TouchPolicy, at.Root)
			}
			if k.Software {
				fmt.Fprintf(a.Stdout, "  (%s)\n", softkey.Label)
			}
			return nil
		},
	}
	c.Flags().StringVar(&o.Device, "device", "", "device URI, e.g. pkcs11:token=ceremony or softkey:file=PATH")
	c.Flags().StringVar(&o.Label, "label", "", "label of the new key")
	c.Flags().StringVar(&o.Algorithm, "algorithm", hsm.P256, "P-256 or P-384")
	c.Flags().StringVar(&o.Mode, "mode", "", "attested: generate on a YubiKey and verify its attestation")
	c.Flags().StringVar(&o.PINPolicy, "pin-policy", "always", "YubiKey: PIN for every signature (always), once per session, or never")
	c.Flags().StringVar(&o.TouchPolicy, "touch-policy", "always", "YubiKey: touch for every signature (always), cached for 15s, or never")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newKeyListCmd(a *App) *cobra.Command {
	var (
		device string
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "list --device URI",
		Short: "List the keys on a device",
		Example: `  keyrite key list --device 'pkcs11:token=ceremony'
  keyrite key list --device softkey:file=rehearsal.softkey --json`,
		Args: exactArgs(0, "no arguments (use --device)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if device == "" {
				return usagef(cmd, "--device is required")
			}
			if err := checkURIs(cmd, "--device", device); err != nil {
				return err
			}
			keys, dev, err := ceremony.ListKeys(cmd.Context(), a.env(), device)
			if err != nil {
				return err
			}
			if asJSON {
				if keys == nil {
					keys = []ceremony.KeyDescription{}
				}
				return a.printJSON(map[string]any{"device": dev, "keys": keys})
			}
			if dev.Software {
				fmt.Fprintf(a.Stderr, "keyrite: warning: %s\n", rehearsalBanner)
			}
			w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "LABEL\tALGORITHM\tORIGIN\tKEY ID\tURI")
			for _, k := range keys {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.Label, k.Algorithm, k.Origin, k.CanonicalID, k.URI)
			}
			return w.Flush()
		},
	}
	c.Flags().StringVar(&device, "device", "", "device URI")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
