package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/recovery"
)

// finishFlags are key generate's flags for finishing an interrupted
// backed-up generation from the custodians' shares.
type finishFlags struct {
	shares     []string
	identities []string
	plugins    []string
}

func (f *finishFlags) add(c *cobra.Command) {
	c.Flags().StringArrayVar(&f.shares, "share", nil, "backed-up, finishing an interrupted generation: a custodian's share file (repeat for the threshold)")
	c.Flags().StringArrayVarP(&f.identities, "identity", "i", nil, "backed-up, finishing: age identity file of a custodian; repeat for each")
	c.Flags().StringArrayVarP(&f.plugins, "plugin", "j", nil, "backed-up, finishing: age plugin to decrypt with, without an identity file")
}

func (f *finishFlags) given() bool {
	return len(f.shares) > 0 || len(f.identities) > 0 || len(f.plugins) > 0
}

// interruptedGeneration says whether -o names the backup directory of a
// backed-up generation that did not finish.
func interruptedGeneration(out string) bool {
	if out == "" {
		return false
	}
	if _, err := os.Lstat(out); err != nil {
		return false
	}
	g, err := recovery.ReadGeneration(out)
	return err == nil && !g.Finished
}

// finishBackedUp finishes the interrupted generation in out: the devices
// that lack the key get it from the shares.
func (a *App) finishBackedUp(cmd *cobra.Command, devices []string, out string, f finishFlags, passphrases []string, asJSON bool) error {
	if len(f.shares) == 0 && (len(f.identities) > 0 || len(f.plugins) > 0) {
		return usagef(cmd, "--identity and --plugin open the shares given with --share")
	}
	o := recovery.FinishOptions{Backup: out, Devices: devices}
	if len(f.shares) > 0 {
		sf := shareFlags{identities: f.identities, plugins: f.plugins, passphrases: passphrases}
		in, err := sf.inputs(a, cmd, f.shares)
		if err != nil {
			return err
		}
		o.Shares = &in
	}
	fmt.Fprintf(a.Stderr, "keyrite: %s holds an interrupted backed-up generation: finishing it\n", out)
	res, err := recovery.FinishGeneration(cmd.Context(), a.env(), o)
	if err != nil {
		return err
	}
	if done, err := a.jsonOrBanner(res, asJSON, res.Rehearsal); done {
		return err
	}
	fmt.Fprintf(a.Stdout, "finished the backed-up generation in %s\n  key ID:   %s\n", res.Backup, res.KeyID)
	a.printWords(res.KeyID)
	for _, k := range res.Holding {
		fmt.Fprintf(a.Stdout, "  held:     %s (already there)\n", k.URI)
	}
	for _, k := range res.Imported {
		fmt.Fprintf(a.Stdout, "  imported: %s (signature verified)\n", k.URI)
	}
	if len(res.Imported) > 0 {
		fmt.Fprintln(a.Stdout, "the key was wiped from this computer's memory")
	}
	if res.Rehearsal {
		fmt.Fprintf(a.Stdout, "(%s)\n", hsm.SoftwareLabel)
	}
	return nil
}

// interruptedHint tells how to finish an interrupted generation: the same
// command with shares, or a restore onto each device that lacks the key.
func interruptedHint(e *recovery.InterruptedGenerationError) string {
	shares := ""
	for i, s := range e.Shares {
		if i > 0 {
			shares += " "
		}
		shares += s
	}
	h := fmt.Sprintf("give any %d of the shares (%s) to this same command with --share FILE and the custodians' -i IDENTITY, or put the key on each device that lacks it:", e.Threshold, shares)
	for i, d := range e.Missing {
		h += fmt.Sprintf(" keyrite recover restore --to '%s' -o %s.restore-%d -i IDENTITY... SHARE...;", d, e.Backup, i+1)
	}
	h += " then run this command again to close the backup's transcript"
	if !e.Verified {
		h = "check the backup first with keyrite backup verify -i IDENTITY... SHARE...; then " + h
	}
	return h
}
