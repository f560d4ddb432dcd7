package main

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/term"
	"github.com/spf13/cobra"
)

// logger is --verbose's structured log on stderr; without --verbose it
// discards. Nothing secret is ever given to it: PINs, passphrases,
// passwords and tokens stay out, only where they came from is logged.
func (a *App) logger() *slog.Logger {
	if a.log == nil {
		if !a.Verbose {
			a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
		} else {
			a.log = slog.New(slog.NewTextHandler(a.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	return a.log
}

// addVerbose adds --verbose and logs each command's start and end.
func addVerbose(a *App, root *cobra.Command) {
	root.PersistentFlags().BoolVar(&a.Verbose, "verbose", false, "write a structured log (log/slog, key=value) of what keyrite does to stderr; never secrets")
	// cobra runs only one of PersistentPreRun and PersistentPreRunE: the
	// log's start goes before whatever hook the root already has.
	next := root.PersistentPreRunE
	root.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		a.log = nil
		a.logger().Debug("command start", "command", c.CommandPath(), "args", args)
		if next != nil {
			return next(c, args)
		}
		return nil
	}
	root.PersistentPostRun = func(c *cobra.Command, _ []string) {
		a.logger().Debug("command done", "command", c.CommandPath(), "exit_code", exitOK)
	}
}

// logFailure logs how a command failed.
func (a *App) logFailure(err error) {
	code, msg, _ := describe(err)
	a.logger().Debug("command failed", "exit_code", code, "error", msg)
}

// loggedPINs logs each PIN or passphrase request: the device and where the
// secret comes from, never the secret.
type loggedPINs struct {
	src   hsm.PINSource
	files []string
	log   *slog.Logger
}

func (a *App) devicePINs() hsm.PINSource {
	return loggedPINs{src: a.pins, files: a.PINFiles, log: a.logger()}
}

// logPINEntry logs each secret the operator entered (or a file gave),
// not those answered again from memory: a batch has one per device.
func (a *App) logPINEntry(r term.Request, file string) {
	from := "terminal"
	if file != "" {
		from = "file " + file
	}
	a.logger().Debug("secret read", "device", r.Device, "kind", r.Kind, "from", from)
}

// PIN implements hsm.PINSource.
func (p loggedPINs) PIN(ctx context.Context, req hsm.PINRequest) ([]byte, error) {
	from := "terminal, unless a --pin-file names the device"
	if len(p.files) > 0 {
		from = "--pin-file " + strings.Join(p.files, " --pin-file ")
	}
	p.log.Debug("secret requested", "device", req.Device, "device_uri", hsm.Redact(req.DeviceURI), "kind", req.Kind, "from", from)
	v, err := p.src.PIN(ctx, req)
	if err != nil {
		p.log.Debug("secret not read", "device", req.Device, "error", err.Error())
	}
	return v, err
}
