// Command keyrite-rehearse rehearses a whole keyrite ceremony on the
// software token, publishing to notary's server code run in-process.
//
// It is not a keyrite subcommand so that the keyrite binary taken into the
// air-gapped room links none of notary's server code.
package main

import (
	"os"

	"github.com/keyrite/keyrite/internal/rehearsal/cli"
)

func main() { os.Exit(cli.Main()) }
