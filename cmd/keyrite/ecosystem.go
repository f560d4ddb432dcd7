package main

import (
	"github.com/keyrite/keyrite/internal/buildinfo"
	"github.com/spf13/cobra"
)

// addEcosystemCmds adds what fits keyrite into its surroundings: version,
// --version, man pages, completion of flag values.
func addEcosystemCmds(a *App, root *cobra.Command) {
	root.Version = buildinfo.Get().Version
	root.SetVersionTemplate(versionText(buildinfo.Get()))
	root.AddCommand(newVersionCmd(a), newDiffCmd(a), newManCmd(a))
	addCompletions(a, root)
	addVerbose(a, root)
}
