package main

import (
	"errors"
	"time"

	"github.com/keyrite/keyrite/ceremony/plan"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/cliutil"
	"github.com/keyrite/keyrite/trust"
	"github.com/spf13/cobra"
)

func newRootCmd(a *App) *cobra.Command {
	root := &cobra.Command{
		Use:   "keyrite",
		Short: "Offline, hardware-backed root keys for Notary / Docker Content Trust",
		Long: `keyrite creates, rotates and recovers the root keys of Notary (Docker Content
Trust) repositories. Keys live on PKCS#11 tokens or YubiKeys; everything that
leaves the air-gapped machine is a signed, verifiable bundle.

  online:      keyrite fetch   --server URL -o request/ GUN...
  air-gapped:  keyrite init    --in request/ -o signed/ --root-key URI GUN...
               keyrite verify  signed/
  online:      keyrite publish --server URL signed/

PINs and passphrases are asked on the terminal, or read from --pin-file;
never from flags, URIs or the environment.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringArrayVar(&a.PINFiles, "pin-file", nil, "read a device's PIN or softkey passphrase from a file (mode 0600) instead of the terminal: DEVICE=FILE per device (DEVICE: its URI as keyrite device list prints it, or its serial), or FILE for the one device that asks")
	root.PersistentFlags().BoolVar(&a.NoWait, "no-wait", false, "fail (exit code 3) instead of asking for a device that is not attached and waiting for it")
	root.PersistentFlags().BoolVar(&a.Force, "force", false, "try the PIN even when only one attempt is left (a wrong PIN then blocks the device)")
	root.PersistentFlags().StringVar(&a.TrustDir, "trust-dir", a.TrustDir, "the trust store: the roots this machine trusts per GUN (default: keyrite/trust under $XDG_CONFIG_HOME or ~/.config)")
	root.PersistentFlags().StringVar(&a.Module, "module", "", "PKCS#11 module to load (default: module-path in the URI, else SoftHSM2 or OpenSC)")
	root.PersistentFlags().BoolVar(&a.RequireAirgap, "require-airgap", false, "refuse to start unless this machine is air-gapped: no network interface but loopback up, no default route, no wireless or Bluetooth device")
	root.PersistentFlags().StringVar(&a.StateDir, "state-dir", a.StateDir, "keyrite's state directory, holding the journal of keys being created (default $XDG_STATE_HOME/keyrite, else ~/.local/state/keyrite)")
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		if err := a.checkAirgapFlag(c); err != nil {
			return err
		}
		if err := a.checkPINFlags(c); err != nil {
			return err
		}
		if err := a.loadRehearsalRoot(c); err != nil {
			return err
		}
		return a.beforeCommand(c)
	}
	addRehearsalRootFlag(a, root)
	root.PersistentFlags().Var(&witnessesFlag{text: &a.signers}, "witnesses", "the ceremony's witnesses, as an allowed signers file (ssh-keygen): recorded in the transcript; each witness's signature must be by a key it allows for the witness's name")
	root.SetFlagErrorFunc(cliutil.FlagError)
	root.Args = cobra.ArbitraryArgs
	root.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef(c, "unknown command %q", args[0])
		}
		return c.Help()
	}
	root.AddCommand(newDeviceCmd(a), newKeyCmd(a), newFetchCmd(a), newInitCmd(a), newVerifyCmd(a), newPublishCmd(a),
		newRefreshCmd(a), newRotateCmd(a), newSignerCmd(a), newIncidentCmd(a), newRevokeCmd(a), newSignCmd(a), newStatusCmd(a),
		newBackupCmd(a), newRecoverCmd(a), newTrustCmd(a), newTranscriptCmd(a), newCeremonyCmd(a), newCACmd(a))
	addEcosystemCmds(a, root)
	return root
}

// checkURIs parses key and device URIs before anything runs, so a typo or
// a secret in a URI is a usage error that touches no device.
func checkURIs(c *cobra.Command, flag string, uris ...string) error {
	for _, u := range uris {
		if u == "" {
			continue
		}
		if err := checkURI(c, u); err != nil {
			// A usage error has a hint of its own (--help): the
			// library's advice goes on the error line.
			var hinted *hsm.HintError
			if errors.As(err, &hinted) {
				return usagef(c, "%s: %v; %s", flag, err, hinted.Hint)
			}
			return usagef(c, "%s: %v", flag, err)
		}
	}
	return nil
}

// group makes a command that only holds subcommands: run bare or with an
// unknown subcommand it is a usage error, not a help screen with exit 0.
func group(c *cobra.Command, subs ...*cobra.Command) *cobra.Command {
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef(c, "unknown command %q for %q", args[0], c.CommandPath())
		}
		return usagef(c, "missing subcommand")
	}
	c.AddCommand(subs...)
	return c
}

// checkGUNs refuses invalid repository names as usage errors.
func checkGUNs(c *cobra.Command, guns []string) error {
	for _, g := range guns {
		if err := trust.ValidateGUN(g); err != nil {
			return usagef(c, "%v", err)
		}
	}
	return nil
}

// exactArgs and minArgs return usage errors (exit code 2).
func minArgs(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef(c, "missing %s", what)
		}
		return nil
	}
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef(c, "expected %s", what)
		}
		return nil
	}
}

// parseExpiries reads --root-expiry and --targets-expiry as usage errors.
func parseExpiries(c *cobra.Command, root, targets string) (time.Duration, time.Duration, error) {
	r, err := parseExpiry(root)
	if err != nil {
		return 0, 0, usagef(c, "--root-expiry: %v", err)
	}
	t, err := parseExpiry(targets)
	if err != nil {
		return 0, 0, usagef(c, "--targets-expiry: %v", err)
	}
	return r, t, nil
}

// parseExpiry reads durations like 10y, 3650d, 90d or Go's 72h.
func parseExpiry(s string) (time.Duration, error) { return plan.ParseDuration(s) }

// registryKey carries the app's device registry in the command's context,
// so that checkURIs can have each scheme's driver check its attributes.
type registryKey struct{}

// checkURI checks a URI with the driver of its scheme, without opening a
// device; without a registry, its generic syntax only.
func checkURI(c *cobra.Command, u string) error {
	if ctx := c.Context(); ctx != nil {
		if r, ok := ctx.Value(registryKey{}).(*hsm.Registry); ok && r != nil {
			return r.CheckURI(u)
		}
	}
	_, err := hsm.ParseURI(u)
	return err
}
