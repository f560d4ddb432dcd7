package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
)

func newKeyDeleteCmd(a *App) *cobra.Command {
	var (
		o         ceremony.DeleteOptions
		confirmID string
		asJSON    bool
	)
	c := &cobra.Command{
		Use:   "delete URI [--confirm-key-id ID]",
		Short: "Destroy a key on a device, after typing its key ID",
		Long: `Destroy the key a URI names: its private and public objects on a PKCS#11
token, or the key in a YubiKey slot. A YubiKey with firmware 5.7 or later
deletes the key and its certificate (the slot is empty again); older
firmware cannot delete keys, so the key is overwritten with a throwaway key
that keeps the slot occupied ("keyrite: free slot" in key list; keyrite
reuses the slot). Such a freed slot can be deleted for real on 5.7. It
cannot be undone: keyrite shows the key (label, key ID, URI, device) and
deletes it only when you type the first 12 characters of its key ID (or all
of it); --confirm-key-id ID gives that answer in advance, for scripts.

A key that a pinned root names (a root key of a repository clients trust)
is refused: rotate the root away from it first. --force deletes it anyway.
Here --force means only that; it does not allow a PIN's last attempt.

Use it for the keys an interrupted command left that you do not want, or to
retire a key. keyrite key list --device URI shows the keys and their IDs.`,
		Example: `  keyrite key delete 'pkcs11:token=ceremony;object=targets:example.com/app'
  keyrite key delete 'pkcs11:token=ceremony;object=old-root;id=%01%02' --confirm-key-id 3f2a9c01b7de
  keyrite key delete 'yubikey:serial=12345678;slot=9c' --json`,
		Args: exactArgs(1, "one key URI"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkURIs(cmd, "key URI", args[0]); err != nil {
				return err
			}
			o.URI = args[0]
			env := a.env()
			if confirmID != "" {
				env.Confirm = func(session.Confirmation) (string, error) { return confirmID, nil }
			}
			res, err := ceremony.DeleteKey(cmd.Context(), env, o)
			if err != nil {
				return err
			}
			if done, err := a.jsonOrBanner(res, asJSON, res.Device.Software); done {
				return err
			}
			d := res.Deleted
			fmt.Fprintf(a.Stdout, "deleted %s key %q\n  key ID: %s\n  URI:    %s\n", d.Algorithm, d.Label, d.CanonicalID, d.URI)
			if res.PinnedIn != "" {
				fmt.Fprintf(a.Stdout, "  (named in %s: deleted with --force)\n", res.PinnedIn)
			}
			if res.Overwritten {
				fmt.Fprintf(a.Stdout, "  (overwritten: this firmware cannot delete keys, so the slot holds a throwaway key labelled %q; keyrite reuses it)\n", d.Label)
			}
			if d.Software {
				fmt.Fprintf(a.Stdout, "  (%s)\n", hsm.SoftwareLabel)
			}
			return nil
		},
	}
	c.Flags().StringVar(&confirmID, "confirm-key-id", "", "the key's ID (its first 12 characters, or all of it), typed in advance to confirm (for scripts)")
	c.Flags().BoolVar(&o.Force, "force", false, "delete the key even though a pinned root names it")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
