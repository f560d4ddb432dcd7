// Package cliutil holds what keyrite's two command lines (keyrite and
// keyrite-rehearse) share: the usage error and the software-token banner.
package cliutil

import (
	"fmt"

	"github.com/keyrite/keyrite/hsm"
	"github.com/spf13/cobra"
)

// SoftwareBanner is printed whenever a software token took part.
const SoftwareBanner = "SOFTWARE TOKEN (" + hsm.SoftwareLabel + "): these keys are not protected by hardware"

// UsageError is a command line the program cannot act on (exit code 2);
// Cmd is the command whose --help the hint names.
type UsageError struct {
	Cmd string
	Err error
}

func (e *UsageError) Error() string { return e.Err.Error() }

// Usagef makes a UsageError for cmd.
func Usagef(cmd *cobra.Command, format string, a ...any) error {
	return &UsageError{Cmd: cmd.CommandPath(), Err: fmt.Errorf(format, a...)}
}

// FlagError is a cobra flag-error function that makes flag errors usage
// errors.
func FlagError(c *cobra.Command, err error) error { return &UsageError{Cmd: c.CommandPath(), Err: err} }
