package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/spf13/cobra"
)

// updateFlags adds the flags every command that changes existing
// repositories shares; keys collects --root-key and --targets-key.
type updateFlags struct {
	o           *session.UpdateOptions
	rootKeys    []string
	targetsKey  string
	snapshotKey string
	asJSON      bool
	tofu        tofuFlag
	tofuIDs     map[string][]string
}

func addUpdateFlags(c *cobra.Command, f *updateFlags, targetsKey bool) {
	c.Flags().StringVar(&f.o.Request, "in", "", "request bundle made by keyrite fetch (with the repositories' current metadata)")
	c.Flags().StringVarP(&f.o.Out, "out", "o", "", "signed bundle to create: a directory, or one file if it ends in .tar")
	c.Flags().StringArrayVar(&f.rootKeys, "root-key", nil, "a current root key at hand (repeat for several)")
	if targetsKey {
		c.Flags().StringVar(&f.targetsKey, "targets-key", "", "the repository's current targets key")
	}
	c.Flags().StringVar(&f.snapshotKey, "snapshot-key", "", "the client-managed snapshot key, for repositories that have one")
	c.Flags().BoolVar(&f.asJSON, "json", false, "print JSON")
	addTOFUFlag(c, &f.tofu)
}

// prepare validates the shared flags and fills the options.
func (f *updateFlags) prepare(a *App, cmd *cobra.Command, guns []string) error {
	if f.o.Request == "" || f.o.Out == "" {
		return usagef(cmd, "--in and -o are required")
	}
	if err := checkURIs(cmd, "--root-key/--targets-key/--snapshot-key", append(append([]string{}, f.rootKeys...), f.targetsKey, f.snapshotKey)...); err != nil {
		return err
	}
	if err := checkGUNs(cmd, guns); err != nil {
		return err
	}
	f.o.Keys = append(append([]string{}, f.rootKeys...), nonEmpty(f.targetsKey, f.snapshotKey)...)
	f.o.GUNs = guns
	var err error
	f.tofuIDs, err = f.tofu.parse(cmd)
	return err
}

// env is the command's environment, with progress unless --json.
func (f *updateFlags) env(a *App) session.Env {
	env := a.batchEnv("signed", f.asJSON)
	env.TOFU = f.tofuIDs
	return env
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// printUpdate reports an update ceremony's result.
func printUpdate(a *App, res *session.UpdateResult, asJSON bool) error {
	if done, err := a.jsonOrBanner(res, asJSON, res.Rehearsal); done {
		return err
	}
	w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "GUN\tUPLOAD\tROOT VERSION\tROOT KEY IDS\tSTATE")
	for _, r := range res.Repos {
		state := "fully signed"
		if !r.Complete {
			state = "needs more signatures"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", r.GUN, strings.Join(r.Upload, ","), r.RootVersion, shortIDs(r.RootKeyIDs), state)
	}
	w.Flush()
	fmt.Fprintf(a.Stdout, "%s: %d device signatures, each verified, into %s for %s\n", res.Command, res.Signatures, res.Out, res.Server)
	if !res.Complete {
		fmt.Fprintf(a.Stdout, "not ready to publish: %s\n", strings.Join(res.Missing, "; "))
		fmt.Fprintf(a.Stderr, "keyrite: hint: each remaining holder adds signatures with keyrite sign %s --key URI -o NEW_DIR\n", res.Out)
	}
	if res.Rehearsal {
		fmt.Fprintf(a.Stdout, "(%s)\n", hsm.SoftwareLabel)
	}
	return nil
}
