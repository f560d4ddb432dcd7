package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/internal/term"
	"github.com/keyrite/keyrite/recovery"
	"github.com/keyrite/keyrite/trust"
)

func newIncidentCmd(a *App) *cobra.Command {
	return group(&cobra.Command{Use: "incident", Short: "Offline: recover from a compromised signer or repository key"},
		newIncidentSignerCmd(a), newIncidentTargetsCmd(a))
}

// incidentFlags are what every incident path and revoke share beyond the
// update flags: the typed confirmation given in advance, and the
// passphrase of signer key files.
type incidentFlags struct {
	confirm  string
	passFile string
}

func (f *incidentFlags) add(c *cobra.Command, want string) {
	c.Flags().StringVar(&f.confirm, "confirm", "", fmt.Sprintf("the confirmation (%q), typed in advance (for scripts)", want))
}

func (f *incidentFlags) addPassphrase(c *cobra.Command) {
	c.Flags().StringVar(&f.passFile, "signer-passphrase-file", "", "file (mode 0600) whose first line is the passphrase of the signer key files; default: asked on the terminal")
}

// env answers the confirmation in advance when --confirm is given.
func (f *incidentFlags) env(env session.Env) session.Env {
	if f.confirm != "" {
		answer := f.confirm
		env.Confirm = func(session.Confirmation) (string, error) { return answer, nil }
	}
	return env
}

// keyFile is a signer key file whose passphrase comes from
// --signer-passphrase-file or the terminal (never a flag or the environment).
func (f *incidentFlags) keyFile(path string) recovery.SignerKeyFile {
	return recovery.SignerKeyFile{Path: path, Passphrase: func(p string) ([]byte, error) {
		if f.passFile != "" {
			return term.ReadSecretFile(f.passFile)
		}
		return (&term.PINSource{}).PIN(context.Background(), term.Request{Device: "signer key " + p, Kind: "passphrase"})
	}}
}

// requireURI refuses a missing or malformed key URI flag as a usage error.
func requireURI(cmd *cobra.Command, flag, uri string) error {
	if uri == "" {
		return usagef(cmd, "%s is required", flag)
	}
	return checkURIs(cmd, flag, uri)
}

// showReview prints what an incident path will do, before the typed
// confirmation, on stderr (stdout is the report, or JSON).
func (a *App) showReview(r *recovery.Review) error {
	w := tabwriter.NewWriter(a.Stderr, 0, 4, 2, ' ', 0)
	for _, repo := range r.Repos {
		fmt.Fprintf(w, "%s:\n", repo.GUN)
		if len(repo.CompromisedKeyIDs) > 0 {
			fmt.Fprintf(w, "  compromised key(s) %s -> new key %s\n", shortIDs(repo.CompromisedKeyIDs), trust.ShortID(repo.NewKeyID))
		}
		if len(repo.SignedRoles) > 0 {
			fmt.Fprintf(w, "  roles the compromised key signed: %s\n", strings.Join(repo.SignedRoles, ", "))
		}
		if len(repo.Relisted) > 0 {
			fmt.Fprintf(w, "  roles listing the new key instead: %s\n", strings.Join(repo.Relisted, ", "))
		}
		fmt.Fprintf(w, "  re-signed: %s\n", strings.Join(repo.Resigned, ", "))
		fmt.Fprintln(w, "  ACTION\tTAG\tROLE\tVERSION\tDIGEST\tSIZE")
		for _, t := range repo.Dropped {
			fmt.Fprintf(w, "  drop\t%s\t%s\t%d\t%s\t%d\n", t.Name, t.Role, t.Version, t.Digest, t.Size)
		}
		for _, t := range repo.Kept {
			fmt.Fprintf(w, "  keep\t%s\t%s\t%d\t%s\t%d\n", t.Name, t.Role, t.Version, t.Digest, t.Size)
		}
		for _, t := range repo.Writable {
			fmt.Fprintf(w, "  review\t%s\t%s\t%d\t%s\t%d\t(kept: its role lists the leaked key, other keys signed it last)\n", t.Name, t.Role, t.Version, t.Digest, t.Size)
		}
		for _, rr := range repo.Review {
			fmt.Fprintf(w, "  review: %s version %d, signed about %s\n", rr.Role, rr.Version, rr.SignedAbout.Format(time.DateOnly))
			for _, t := range rr.Tags {
				fmt.Fprintf(w, "  review\t%s\t%s\t%d\t%s\t%d\n", t.Name, t.Role, t.Version, t.Digest, t.Size)
			}
		}
	}
	return w.Flush()
}

// printIncident reports an incident path's result.
func printIncident(a *App, res *recovery.IncidentResult, asJSON bool) error {
	if asJSON {
		return a.printJSON(res)
	}
	if err := printUpdate(a, res.UpdateResult, false); err != nil {
		return err
	}
	for _, r := range res.Incident {
		var dropped, kept []string
		for _, t := range r.Dropped {
			dropped = append(dropped, t.Name+" ("+t.Role+")")
		}
		for _, t := range r.Kept {
			kept = append(kept, t.Name+" ("+t.Role+")")
		}
		fmt.Fprintf(a.Stdout, "%s: dropped %s; kept %s\n", r.GUN, orNone(strings.Join(dropped, ", ")), orNone(strings.Join(kept, ", ")))
	}
	return nil
}

func newIncidentSignerCmd(a *App) *cobra.Command {
	var (
		o      recovery.IncidentSignerOptions
		f      = updateFlags{o: &o.UpdateOptions}
		inc    incidentFlags
		newKey string
	)
	c := &cobra.Command{
		Use:   "signer --in request/ -o signed/ --targets-key URI --signer NAME (--new-signer-key FILE | --recovery-key URI) [--keep TAG...] GUN...",
		Short: "Recover from a docker signer's leaked key: drop what it signed, re-sign the rest",
		Long: `A docker signer's key (targets/NAME) leaked. In every repository given:

  - every tag of every delegation role whose current metadata the leaked key
    signed is listed (name, digest, size, role, version), and dropped unless
    --keep names it after review;
  - the leaked key is taken out of every delegation role, and the new key
    put in its place (targets.json, signed by the targets key);
  - every delegation role it signed is re-signed by the new key: a docker
    signer key made with docker trust key generate (--new-signer-key, its
    private key file, mode 0600; the passphrase from
    --signer-passphrase-file or the terminal), or a key on a device in the
    room (--recovery-key URI).

The request bundle must carry every delegation role the server's snapshot
lists (keyrite fetch brings them); each is checked against the snapshot and
its parent's keys as notary's client checks it, so a role the online
machine changed or left out is refused. The review is shown and a typed
confirmation ("incident NAME") asked before anything is signed; the
transcript records the signer, the key IDs and the tags dropped and kept.
Then keyrite publish: clients, with their caches from before, stop
trusting the dropped tags and keep trusting the rest.`,
		Example: `  keyrite fetch --server https://notary.example.com -o request/ registry.example.com/app
  # offline: the new CI key, as docker makes it
  docker trust key generate ci-2 --dir .
  keyrite incident signer --in request/ -o signed/ --targets-key 'pkcs11:token=ceremony;object=targets' \
      --signer ci --new-signer-key ~/.docker/trust/private/KEYID.key --keep v1 --keep v2 registry.example.com/app
  keyrite publish --server https://notary.example.com signed/`,
		Args: minArgs(1, "GUN arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.prepare(a, cmd, args); err != nil {
				return err
			}
			if o.Signer == "" || f.targetsKey == "" {
				return usagef(cmd, "--signer and --targets-key are required")
			}
			if _, err := trust.SignerRole(o.Signer); err != nil {
				return usagef(cmd, "--signer: %v", err)
			}
			if (newKey == "") == (o.RecoveryKey == "") {
				return usagef(cmd, "give exactly one of --new-signer-key FILE and --recovery-key URI")
			}
			if err := checkURIs(cmd, "--recovery-key", o.RecoveryKey); err != nil {
				return err
			}
			if newKey != "" {
				kf := inc.keyFile(newKey)
				o.NewSignerKey = &kf
			}
			o.Show = a.showReview
			res, err := recovery.IncidentSigner(cmd.Context(), inc.env(f.env(a)), o)
			if err != nil {
				return err
			}
			return printIncident(a, res, f.asJSON)
		},
	}
	addUpdateFlags(c, &f, true)
	inc.add(c, "incident NAME")
	inc.addPassphrase(c)
	c.Flags().StringVar(&o.Signer, "signer", "", "the signer whose key leaked (targets/NAME)")
	c.Flags().StringVar(&newKey, "new-signer-key", "", "the new signer's private key file (docker trust key generate; mode 0600)")
	c.Flags().StringVar(&o.RecoveryKey, "recovery-key", "", "URI of a device key that becomes the signer's key instead")
	c.Flags().StringArrayVar(&o.Keep, "keep", nil, "a tag the leaked key signed that stays, after review (repeat for several)")
	return c
}

func newIncidentTargetsCmd(a *App) *cobra.Command {
	var (
		o     recovery.IncidentTargetsOptions
		f     = updateFlags{o: &o.UpdateOptions}
		inc   incidentFlags
		since string
	)
	c := &cobra.Command{
		Use:   "targets --in request/ -o signed/ --root-key URI --new-targets-key URI [--since DATE] GUN...",
		Short: "Recover from a leaked repository (targets) key, listing what was signed since",
		Long: `The repository (targets) key leaked. As keyrite rotate targets does, root
(re-signed by the root keys) names the new targets key and targets.json is
signed by it; targets.json lists the keys of every delegation, so this is
what makes the new key vouch for them. A delegation role that listed the
leaked key lists the new one instead and is re-signed by it.

Every role (targets.json and each delegation) signed since --since is
listed for review with its tags. TUF metadata carries no signing time:
notary sets a role's expiry three years after it signs, so the date shown
is the expiry less three years (a role keyrite changed keeps its expiry,
and shows an earlier date). Review the list and revoke what you did not
sign with keyrite revoke. The typed confirmation is "rotate targets".`,
		Example: `  keyrite incident targets --in request/ -o signed/ --root-key 'pkcs11:token=ceremony;object=root' \
      --new-targets-key 'pkcs11:token=ceremony;object=targets-2' --since 2026-11-01 registry.example.com/app`,
		Args: minArgs(1, "GUN arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.prepare(a, cmd, args); err != nil {
				return err
			}
			if err := requireURI(cmd, "--new-targets-key", o.NewTargetsKey); err != nil {
				return err
			}
			if since != "" {
				t, err := time.Parse(time.DateOnly, since)
				if err != nil {
					return usagef(cmd, "--since %s: a date as 2026-11-01", since)
				}
				o.Since = t
			}
			o.Show = a.showReview
			res, err := recovery.IncidentTargets(cmd.Context(), inc.env(f.env(a)), o)
			if err != nil {
				return err
			}
			return printIncident(a, res, f.asJSON)
		},
	}
	addUpdateFlags(c, &f, false)
	inc.add(c, "rotate targets")
	c.Flags().StringVar(&o.NewTargetsKey, "new-targets-key", "", "URI of the new targets key")
	c.Flags().StringVar(&since, "since", "", "list content signed since this date (YYYY-MM-DD, UTC) for review; default: all")
	return c
}
