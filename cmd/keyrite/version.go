package main

import (
	"fmt"
	"sort"

	"github.com/keyrite/keyrite/internal/buildinfo"
	"github.com/spf13/cobra"
)

func newVersionCmd(a *App) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Show keyrite's version, VCS revision, Go version and the versions of notary, piv-go, pkcs11 and age",
		Long: `Show what this keyrite is: its version, the VCS revision it was built from
and whether the tree had uncommitted changes, the Go version, and the versions
of the libraries a ceremony rests on. Every bundle (request.json, bundle.json)
and transcript (the ceremony.start line) records the same.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := buildinfo.Get()
			if asJSON {
				return a.printJSON(info)
			}
			fmt.Fprint(a.Stdout, versionText(info))
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// versionText is keyrite version's report, also printed by --version.
func versionText(info buildinfo.Info) string {
	s := info.String() + "\n"
	if info.Revision == "" {
		s += "revision: not recorded (built without VCS stamping)\n"
	}
	var names []string
	for n := range info.Dependencies {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s += fmt.Sprintf("%s %s\n", n, info.Dependencies[n])
	}
	return s
}
