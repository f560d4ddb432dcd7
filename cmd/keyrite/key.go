package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/spf13/cobra"
)

func newKeyCmd(a *App) *cobra.Command {
	return group(&cobra.Command{Use: "key", Short: "Generate, list and delete keys on devices"}, newKeyGenerateCmd(a), newKeyListCmd(a), newKeyDeleteCmd(a))
}

// Key generation modes. The default stays on-device generation: a
// backed-up key needs custodians and a backup directory that a bare
// command line does not have, so it is never chosen silently.
const (
	modeOnDevice = "on-device"
	modeBackedUp = "backed-up"
)

func newKeyGenerateCmd(a *App) *cobra.Command {
	var (
		devices     []string
		o           ceremony.GenerateOptions
		mode        string
		custodians  []string
		threshold   int
		out         string
		passphrases []string
		finish      finishFlags
		asJSON      bool
	)
	c := &cobra.Command{
		Use:   "generate --device URI --label LABEL [--mode attested | --mode backed-up --custodian NAME=RECIPIENT... --threshold M -o DIR]",
		Short: "Generate a root key on a device, or in memory with an M-of-N backup",
		Long: `Generate an ECDSA key.

--mode on-device (the default): the key is made by the device and never
leaves it. On PKCS#11 tokens it is created with CKA_TOKEN, CKA_SENSITIVE and
not extractable; an existing label is refused. The key's first signature is
verified in software before it is reported.

--mode attested: on-device generation on a YubiKey, in the slot the URI names
(slot=9c), with PIN and touch policies (default: PIN and touch for every
signature); a certificate carrying the label is stored in the slot, and the
device's attestation is verified against Yubico's roots, the device's serial
and firmware, and the key (a key whose attestation is refused is destroyed).
init puts the attestation into the signed bundle. YubiKey on-device keys take
the same policy flags. A virtual YubiKey's attestation chains to its own
root, never to Yubico's: to rehearse by hand, give that root with
--rehearsal-attestation-root FILE; the key record (and everything else
written with the flag) is then marked as a rehearsal.

Every on-device or attested generation leaves a record: a directory with
the generation's transcript (device, serial, key ID, attestation digest)
sealed by the new key itself, -o DIR or a new directory under records/ next
to the trust store (default ~/.config/keyrite/records/). keyrite transcript
verify checks it; keyrite transcript witness adds witnesses' signatures.

--mode backed-up: the key is made in this computer's memory, from the OS
random generator mixed with the random generator of each device that has one
(PKCS#11 C_GenerateRandom). It is split into one share per --custodian so
that any --threshold of them restore it and fewer reveal nothing; each share
is encrypted with age to its custodian and written to the new directory -o
(0700, files 0600, all or nothing). Every file is read back, checked to be
encrypted to its custodian, and the shares are recombined; only then is the
key imported into every --device (the same key on each) and each device's
signature checked. The key is then wiped from memory.

A backed-up generation interrupted after its backup was written (killed, power
cut) is finished by running the same command again with the same -o: keyrite
reads the backup's transcript, finds the devices that already hold the key,
and imports it into the others from the custodians' shares (--share FILE for
each, with -i IDENTITY or -j PLUGIN; --passphrase-file then gives the shares'
passphrases). Without shares it names the devices that lack the key and the
keyrite recover restore command that puts it there.

Recipients: age1... (X25519), age1pq1... (post-quantum hybrid), ssh-ed25519
and ssh-rsa public keys, age1NAME1... for an age plugin (age-plugin-NAME in
PATH, e.g. age1yubikey1...), plugin:NAME for a plugin without a recipient,
and the word passphrase (asked twice, or --passphrase-file NAME=FILE).`,
		Example: `  keyrite key generate --device 'pkcs11:token=ceremony' --label root-2026
  keyrite key generate --device 'pkcs11:token=ceremony' --label root-p384 --algorithm P-384
  keyrite key generate --device 'yubikey:serial=12345678;slot=9c' --label root-2026 --mode attested
  keyrite --rehearsal-attestation-root vyk/ca/ca.pem key generate --device 'yubikey:serial=12345678;slot=9c' \
      --label rehearsal-root --mode attested      # a virtual YubiKey: a rehearsal
  keyrite key generate --mode backed-up --label root-2026 \
      --device 'pkcs11:token=hsm-a' --device 'pkcs11:token=hsm-b' \
      --custodian alice=age1... --custodian bob=age1pq1... --custodian 'carol=ssh-ed25519 AAAA...' \
      --threshold 2 -o backup/
  # the same, after it was interrupted during the imports: finish from two shares
  keyrite key generate --mode backed-up --label root-2026 \
      --device 'pkcs11:token=hsm-a' --device 'pkcs11:token=hsm-b' -o backup/ \
      --share backup/alice.share.age --share backup/bob.share.age -i alice.key -i bob.key`,
		Args: exactArgs(0, "no arguments (use --device and --label)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(devices) == 0 || o.Label == "" {
				return usagef(cmd, "--device and --label are required")
			}
			if err := checkURIs(cmd, "--device", devices...); err != nil {
				return err
			}
			if _, err := hsm.Curve(o.Algorithm); err != nil {
				return usagef(cmd, "--algorithm: %v", err)
			}
			for flag, v := range map[string]string{"--pin-policy": o.PINPolicy, "--touch-policy": o.TouchPolicy} {
				ok := map[string]bool{"always": true, "never": true, "once": flag == "--pin-policy", "cached": flag == "--touch-policy"}
				if !ok[v] {
					return usagef(cmd, "%s: %q is not a policy (always, never, %s)", flag, v, map[bool]string{true: "once", false: "cached"}[flag == "--pin-policy"])
				}
			}
			switch mode {
			case modeOnDevice, ceremony.ModeAttested:
				if len(custodians) > 0 || cmd.Flags().Changed("threshold") || len(passphrases) > 0 || finish.given() {
					return usagef(cmd, "--custodian, --threshold, --passphrase-file, --share, --identity and --plugin belong to --mode backed-up")
				}
				o.Record = out
				if len(devices) != 1 {
					return usagef(cmd, "--mode %s makes a key on one device; several devices need --mode backed-up", mode)
				}
				o.Device = devices[0]
				if mode == ceremony.ModeAttested {
					o.Mode = ceremony.ModeAttested
				}
				return a.generateOnDevice(cmd, o, asJSON)
			case modeBackedUp:
				if interruptedGeneration(out) {
					return a.finishBackedUp(cmd, devices, out, finish, passphrases, asJSON)
				}
				if finish.given() {
					return usagef(cmd, "--share, --identity and --plugin finish an interrupted generation: -o must name its backup directory")
				}
				return a.generateBackedUp(cmd, devices, o, custodians, threshold, out, passphrases, asJSON)
			}
			return usagef(cmd, "--mode must be %s, %s or %s", modeOnDevice, ceremony.ModeAttested, modeBackedUp)
		},
	}
	c.Flags().StringArrayVar(&devices, "device", nil, "device URI, e.g. pkcs11:token=ceremony or softkey:file=PATH (backed-up: repeat for several devices)")
	c.Flags().StringVar(&o.Label, "label", "", "label of the new key")
	c.Flags().StringVar(&o.Algorithm, "algorithm", hsm.P256, "P-256 or P-384")
	c.Flags().StringVar(&mode, "mode", modeOnDevice, "on-device (made by the device, no backup), attested (on a YubiKey, attestation verified) or backed-up (made in memory, split among custodians, then imported)")
	c.Flags().StringVar(&o.PINPolicy, "pin-policy", "always", "YubiKey: PIN for every signature (always), once per session, or never")
	c.Flags().StringVar(&o.TouchPolicy, "touch-policy", "always", "YubiKey: touch for every signature (always: init signs twice per GUN with a root key, 200 touches per 100 GUNs), cached (one touch per 15 s of signing), or never")
	c.Flags().StringArrayVar(&custodians, "custodian", nil, "backed-up: NAME=RECIPIENT, one per share")
	c.Flags().IntVar(&threshold, "threshold", 0, "backed-up: shares needed to restore the key (1 to the number of custodians)")
	c.Flags().StringVarP(&out, "out", "o", "", "backed-up: backup directory to create; on-device and attested: the key record to create (default: a new directory under records/ next to the trust store)")
	c.Flags().StringArrayVar(&passphrases, "passphrase-file", nil, "backed-up: NAME=FILE, the new passphrase of custodian NAME's share (default: asked twice)")
	finish.add(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	a.addLeftoverFlags(c)
	return c
}

func (a *App) generateOnDevice(cmd *cobra.Command, o ceremony.GenerateOptions, asJSON bool) error {
	if o.Record == "" {
		dir, err := a.keyRecordDir(o.Label)
		if err != nil {
			return err
		}
		o.Record = dir
	}
	k, err := ceremony.GenerateKey(cmd.Context(), a.env(), o)
	if err != nil {
		return err
	}
	a.sayTouchPolicy(o.Device, o.TouchPolicy)
	if done, err := a.jsonOrBanner(k, asJSON, k.Software); done {
		return err
	}
	fmt.Fprintf(a.Stdout, "generated %s key %q\n  key ID: %s\n  URI:    %s\n", k.Algorithm, k.Label, k.CanonicalID, k.URI)
	if at := k.Attestation; at != nil {
		fmt.Fprintf(a.Stdout, "  attested: YubiKey serial %d, firmware %s, slot %s, PIN %s, touch %s (root %s)\n",
			at.Serial, at.Firmware, at.Slot, at.PINPolicy, at.TouchPolicy, at.Root)
	}
	fmt.Fprintf(a.Stdout, "  record: %s (sealed by the key; keyrite transcript verify %s)\n", k.Record, k.Record)
	if k.Software {
		fmt.Fprintf(a.Stdout, "  (%s)\n", hsm.SoftwareLabel)
	}
	return nil
}

func (a *App) generateBackedUp(cmd *cobra.Command, devices []string, g ceremony.GenerateOptions, specs []string,
	threshold int, out string, passphrases []string, asJSON bool) error {
	if len(specs) == 0 || out == "" || threshold == 0 {
		return usagef(cmd, "--mode backed-up needs --custodian (one per share), --threshold and -o")
	}
	var cs []backup.Custodian
	for _, s := range specs {
		c, err := backup.ParseCustodian(s)
		if err != nil {
			return usagef(cmd, "--custodian: %v", err)
		}
		cs = append(cs, c)
	}
	if threshold < 1 || threshold > len(cs) {
		return usagef(cmd, "--threshold %d with %d custodians: it must be between 1 and %d", threshold, len(cs), len(cs))
	}
	pf, err := parsePassphraseFiles(cmd, passphrases)
	if err != nil {
		return err
	}
	res, err := ceremony.GenerateBackedUp(cmd.Context(), a.env(), ceremony.BackedUpOptions{Devices: devices, Label: g.Label,
		Algorithm: g.Algorithm, Custodians: cs, Threshold: threshold, Out: out, Passphrase: a.newPassphrase(cmd.Context(), pf),
		PluginUI: a.pluginUI()})
	if err != nil {
		return err
	}
	if done, err := a.jsonOrBanner(res, asJSON, res.Rehearsal); done {
		return err
	}
	var names []string
	for _, s := range res.Shares {
		names = append(names, s.Custodian)
	}
	fmt.Fprintf(a.Stdout, "generated %s key %q in memory (backed-up)\n  key ID:   %s\n", res.Algorithm, res.Label, res.CanonicalID)
	a.printWords(res.CanonicalID)
	fmt.Fprintf(a.Stdout, "  backup:   %s: any %d of %d shares (%s); read back and verified, %d of %d share subsets restore the key\n",
		res.Out, res.Threshold, len(res.Shares), strings.Join(names, ", "), res.Check.Subsets, res.Check.Total)
	for _, e := range res.Entropy {
		fmt.Fprintf(a.Stdout, "  entropy:  %s\n", e)
	}
	for _, k := range res.Imported {
		fmt.Fprintf(a.Stdout, "  imported: %s (signature verified)\n", k.URI)
	}
	fmt.Fprintln(a.Stdout, "the key was wiped from this computer's memory; hand each custodian their share file")
	if res.Rehearsal {
		fmt.Fprintf(a.Stdout, "(%s)\n", hsm.SoftwareLabel)
	}
	return nil
}

func newKeyListCmd(a *App) *cobra.Command {
	var (
		device string
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "list --device URI",
		Short: "List the keys on a device",
		Long: `List the keys on a device: label, algorithm, origin, key ID and URI. On a
YubiKey every occupied slot is listed, including the slots keyrite freed on
firmware that cannot delete keys (before 5.7): they hold a throwaway key
labelled "keyrite: free slot", shown with origin "freed".`,
		Example: `  keyrite key list --device 'pkcs11:token=ceremony'
  keyrite key list --device 'yubikey:serial=12345678'
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
					keys = []session.KeyDescription{}
				}
				return a.printJSON(map[string]any{"device": dev, "keys": keys})
			}
			a.warnSoftware(dev.Software)
			w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "LABEL\tALGORITHM\tORIGIN\tKEY ID\tURI")
			free := 0
			for _, k := range keys {
				origin := k.Origin
				if k.Free {
					origin, free = "freed", free+1
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.Label, k.Algorithm, origin, k.CanonicalID, k.URI)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if free > 0 {
				fmt.Fprintf(a.Stdout, "freed slots: %d (keyrite overwrote their keys with throwaway ones: firmware before 5.7 cannot delete keys; keyrite reuses them, other tools see a key there, and keyrite key delete URI empties one on firmware 5.7 or later)\n", free)
			}
			return nil
		},
	}
	c.Flags().StringVar(&device, "device", "", "device URI")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// keyRecordDir is where a key generation's record goes by default: a new
// directory under records/ next to the trust store (the machine's own
// state: ~/.config/keyrite/records/ by default).
func (a *App) keyRecordDir(label string) (string, error) {
	ts := a.trustStore()
	if ts == nil {
		return "", errors.New("no configuration directory for the key record: give -o DIR")
	}
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, label)
	base := filepath.Join(filepath.Dir(ts.Dir), "records", "key-"+a.Now().UTC().Format("20060102T150405Z")+"-"+strings.TrimLeft(safe, "."))
	dir := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(dir); os.IsNotExist(err) {
			return dir, nil
		}
		dir = fmt.Sprintf("%s-%d", base, i)
	}
}
