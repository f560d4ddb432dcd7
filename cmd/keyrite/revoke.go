package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyrite/keyrite/recovery"
)

func newRevokeCmd(a *App) *cobra.Command {
	var (
		o          recovery.RevokeOptions
		f          = updateFlags{o: &o.UpdateOptions}
		inc        incidentFlags
		keys, pems []string
	)
	c := &cobra.Command{
		Use:   "revoke --in request/ -o signed/ [--key URI...] [--signer-key FILE...] GUN:TAG...",
		Short: "Offline: remove tags from targets and every delegation role (docker trust revoke)",
		Long: `Remove each tag from targets.json and every delegation role that holds it,
as docker trust revoke does online, and re-sign each changed role with the
keys at hand: device keys (--key URI: the targets key, a delegation key on
a device) and docker signer key files (--signer-key FILE, mode 0600; the
passphrase from --signer-passphrase-file or the terminal). A role whose
threshold those keys cannot meet refuses the whole run, naming the key IDs
missing, before anything is signed. The typed confirmation is "revoke".`,
		Example: `  keyrite revoke --in request/ -o signed/ --signer-key ~/.docker/trust/private/KEYID.key \
      registry.example.com/app:v1.2 registry.example.com/api:v0.9
  keyrite publish --server https://notary.example.com signed/`,
		Args: minArgs(1, "GUN:TAG arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Tags = map[string][]string{}
			var guns []string
			for _, arg := range args {
				i := strings.LastIndex(arg, ":")
				if i <= 0 || i == len(arg)-1 || strings.Contains(arg[i:], "/") {
					return usagef(cmd, "%q is not GUN:TAG", arg)
				}
				gun, tag := arg[:i], arg[i+1:]
				if _, ok := o.Tags[gun]; !ok {
					guns = append(guns, gun)
				}
				o.Tags[gun] = append(o.Tags[gun], tag)
			}
			if err := f.prepare(a, cmd, guns); err != nil {
				return err
			}
			if err := checkURIs(cmd, "--key", keys...); err != nil {
				return err
			}
			o.Keys = append(o.Keys, keys...)
			if len(o.Keys) == 0 && len(pems) == 0 {
				return usagef(cmd, "give the keys at hand: --key URI or --signer-key FILE")
			}
			for _, p := range pems {
				o.SignerKeys = append(o.SignerKeys, inc.keyFile(p))
			}
			o.Show = a.showReview
			res, err := recovery.Revoke(cmd.Context(), inc.env(f.env(a)), o)
			if err != nil {
				return err
			}
			return printIncident(a, res, f.asJSON)
		},
	}
	addUpdateFlags(c, &f, false)
	inc.add(c, "revoke")
	inc.addPassphrase(c)
	c.Flags().StringArrayVar(&keys, "key", nil, "URI of a device key at hand (targets key, delegation key); repeat for several")
	c.Flags().StringArrayVar(&pems, "signer-key", nil, "a docker signer's private key file (mode 0600); repeat for several")
	return c
}
