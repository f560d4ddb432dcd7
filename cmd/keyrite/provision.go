package main

import (
	"fmt"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/internal/term"
	"github.com/spf13/cobra"
)

func newDeviceProvisionCmd(a *App) *cobra.Command {
	var (
		pukFile       string
		reset         bool
		repair        bool
		confirmSerial string
		asJSON        bool
	)
	c := &cobra.Command{
		Use:   "provision yubikey:serial=N",
		Short: "Take a YubiKey out of its factory state: new PIN, PUK and management key",
		Long: `Replace a YubiKey's factory PIN, PUK and management key: the new PIN and PUK
are asked twice on the terminal (or read from --pin-file and --puk-file), and
the management key becomes a random key (AES-192 on firmware 5.4 and later,
3DES before) stored on the device, protected by the new PIN, the way ykman
stores one: ykman piv info then reports "Management key is stored on the
YubiKey, protected by PIN", and ykman commands given the PIN (-P) need no
management key. A CHUID and a CCC are written if the device has none.
A device keyrite provisioned before it wrote these objects gets them with
--repair, which asks only its PIN (or reads --pin-file) and changes nothing
else. keyrite refuses a device that is not in its factory
state; --reset first erases the PIV application (all its keys), after you type
the device's serial to confirm.`,
		Example: `  keyrite device provision yubikey:serial=12345678
  keyrite device provision yubikey:serial=12345678 --pin-file pin.txt --puk-file puk.txt
  keyrite device provision yubikey:serial=12345678 --reset
  keyrite device provision yubikey:serial=12345678 --repair --pin-file pin.txt`,
		Args: exactArgs(1, "one YubiKey URI (yubikey:serial=N)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkURIs(cmd, "device", args[0]); err != nil {
				return err
			}
			if confirmSerial != "" && !reset {
				return usagef(cmd, "--confirm-serial only confirms --reset")
			}
			if repair && (reset || pukFile != "") {
				return usagef(cmd, "--repair changes no secret and erases nothing: it takes neither --reset nor --puk-file")
			}
			prompt := &term.PINSource{}
			defer prompt.Wipe()
			secret := func(file, kind string) func(string) ([]byte, error) {
				return func(device string) ([]byte, error) {
					if file != "" {
						return term.ReadSecretFile(file)
					}
					return prompt.PIN(cmd.Context(), term.Request{Device: device, Kind: kind, Confirm: true})
				}
			}
			pinFile, err := a.newPINFile(args[0])
			if err != nil {
				return err
			}
			o := ceremony.ProvisionOptions{Device: args[0], Reset: reset, Repair: repair,
				NewPIN: secret(pinFile, "new PIN (6-8 characters)"), NewPUK: secret(pukFile, "new PUK (6-8 characters)")}
			env := a.env()
			if confirmSerial != "" {
				env.Confirm = func(session.Confirmation) (string, error) { return confirmSerial, nil }
			}
			rep, err := ceremony.Provision(cmd.Context(), env, o)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(rep)
			}
			for _, w := range rep.Warnings {
				fmt.Fprintf(a.Stderr, "keyrite: warning: YubiKey serial %d: %s\n", rep.Serial, w)
			}
			if rep.Reset {
				fmt.Fprintf(a.Stdout, "erased the PIV application of YubiKey serial %d\n", rep.Serial)
			}
			verb := "provisioned"
			if repair {
				verb = "repaired"
			}
			fmt.Fprintf(a.Stdout, "%s YubiKey serial %d (firmware %s)\n", verb, rep.Serial, rep.Firmware)
			for _, r := range rep.Replaced {
				fmt.Fprintf(a.Stdout, "  replaced the factory %s\n", r)
			}
			fmt.Fprintf(a.Stdout, "  management key: %s\n", rep.ManagementKey)
			for _, w := range rep.Written {
				fmt.Fprintf(a.Stdout, "  wrote %s\n", w)
			}
			return nil
		},
	}
	c.Flags().StringVar(&pukFile, "puk-file", "", "read the new PUK from this file (mode 0600) instead of the terminal; --pin-file gives the new PIN")
	c.Flags().BoolVar(&repair, "repair", false, "on a YubiKey keyrite provisioned before: write the data objects ykman and other tools read (admin data, CHUID, CCC) where missing; asks the PIN, changes nothing else")
	c.Flags().BoolVar(&reset, "reset", false, "erase the PIV application first (destroys every key on the device)")
	c.Flags().StringVar(&confirmSerial, "confirm-serial", "", "the device's serial, typed in advance to confirm --reset (for automation)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
