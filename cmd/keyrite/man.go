package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/internal/buildinfo"
)

func newManCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "man DIR",
		Short: "Write a man page per command into DIR (keyrite.1, keyrite-init.1, ...)",
		Example: `  keyrite man /usr/local/share/man/man1 && man keyrite-init
  keyrite completion bash > /etc/bash_completion.d/keyrite`,
		Args: exactArgs(1, "one directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			hdr := &doc.GenManHeader{Title: "KEYRITE", Section: "1", Source: "keyrite " + buildinfo.Get().Version, Manual: "keyrite manual"}
			if err := doc.GenManTree(root, hdr, args[0]); err != nil {
				return fmt.Errorf("writing man pages: %w", err)
			}
			fmt.Fprintf(a.Stdout, "man pages written to %s\n", args[0])
			return nil
		},
	}
}

// deviceURIFlags take a device or key URI: completion offers the URIs of
// the devices attached.
var deviceURIFlags = []string{"device", "root-key", "new-root-key", "targets-key", "new-targets-key", "snapshot-key", "targets-device", "to", "key", "recovery-key"}

// addCompletions registers, on every command, completion of device URIs
// for the flags that take one, and of GUNs from the request bundle --in
// names for the commands that take GUN arguments.
func addCompletions(a *App, c *cobra.Command) {
	for _, name := range deviceURIFlags {
		if c.Flags().Lookup(name) == nil || name == "key" && c.Name() != "sign" && c.Name() != "revoke" {
			continue // signer add's --key is a PEM file
		}
		_ = c.RegisterFlagCompletionFunc(name, a.completeDevices)
	}
	if c.Flags().Lookup("in") != nil && c.ValidArgsFunction == nil {
		c.ValidArgsFunction = completeGUNs
	}
	for _, sub := range c.Commands() {
		addCompletions(a, sub)
	}
}

// completeDevices lists attached devices' URIs, never waiting for one.
func (a *App) completeDevices(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	opts := a.env().HSM
	opts.NoWait, opts.Log, opts.PIN = true, io.Discard, nil
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	devs, _ := a.registry.Devices(ctx, opts)
	var out []string
	for _, d := range devs {
		if strings.HasPrefix(d.URI, toComplete) {
			out = append(out, d.URI+"\t"+strings.TrimSpace(d.Kind+" "+d.Label+" "+d.Serial))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// completeGUNs lists the GUNs of the request bundle --in names, less
// those already given.
func completeGUNs(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	in, _ := cmd.Flags().GetString("in")
	if in == "" {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	req, err := bundle.ReadRequest(in)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, r := range req.Info.Repos {
		if strings.HasPrefix(r.GUN, toComplete) && !slices.Contains(args, r.GUN) {
			state := "new"
			if r.Exists {
				state = fmt.Sprintf("root v%d", r.RootVersion)
			}
			out = append(out, r.GUN+"\t"+state)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
