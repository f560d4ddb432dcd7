// Package cli is the keyrite-rehearse command. It is a package of its own,
// not package main, so that keyrite's testscripts can run it.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/internal/cliutil"
	"github.com/keyrite/keyrite/internal/rehearsal"
	"github.com/keyrite/keyrite/trust"
)

// Exit codes, as keyrite's.
const (
	exitOK       = 0
	exitFailed   = 1
	exitUsage    = 2
	exitVerifyKO = 4
)

// Main runs keyrite-rehearse with os.Args and returns the exit code.
func Main() int {
	// notary's packages log through the global logrus; keyrite reports
	// through its own errors instead.
	logrus.SetOutput(io.Discard)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return Run(ctx, os.Args[1:], os.Stdout, os.Stderr, time.Now)
}

// Run executes one command line.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time) int {
	c := newCmd(stdout, stderr, now)
	c.SetArgs(args)
	c.SetOut(stdout)
	c.SetErr(stderr)
	err := c.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ue *cliutil.UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "keyrite: error: %v\n", ue.Err)
		fmt.Fprintf(stderr, "keyrite: hint: see %s --help\n", ue.Cmd)
		return exitUsage
	}
	fmt.Fprintf(stderr, "keyrite: error: %v\n", err)
	var (
		berr *bundle.Error
		verr *trust.VerifyError
		terr *bundle.TranscriptError
	)
	if errors.As(err, &berr) || errors.As(err, &verr) || errors.As(err, &terr) {
		return exitVerifyKO
	}
	return exitFailed
}

func newCmd(stdout, stderr io.Writer, now func() time.Time) *cobra.Command {
	var (
		o      rehearsal.Options
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "keyrite-rehearse [GUN...]",
		Short: "Rehearse a whole ceremony on the software token (no hardware, nothing installed)",
		Long: `Run the whole flow end to end on the embedded software token: generate a root
key, fetch the server's keys, init the repositories, verify the signed
bundle and publish it, reading every repository back with notary's client
code. Without --server, notary's own server code runs in-process on
127.0.0.1 with memory storage. Everything is written under --dir.

The software token is for rehearsals only: its keys are not on hardware.
The rehearsal is a command of its own, not part of keyrite, because the
in-process server is notary's server code, which the keyrite binary for the
air-gapped machine does not carry.`,
		Example: `  keyrite-rehearse
  keyrite-rehearse --dir /tmp/rehearsal registry.example.com/org/app
  keyrite-rehearse --server https://localhost:4443 --tls-ca ca.crt`,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, g := range args {
				if err := trust.ValidateGUN(g); err != nil {
					return usagef(cmd, "%v", err)
				}
			}
			o.GUNs, o.Now, o.DeviceLog = args, now, stderr
			if !asJSON {
				o.Log = stderr
			}
			res, err := rehearsal.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			fmt.Fprintf(stderr, "keyrite: warning: %s\n", cliutil.SoftwareBanner)
			w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "GUN\tROOT VERSION\tROOT KEY ID (docker \"Root Key\")\tPUBLISHED")
			for _, p := range res.Published {
				fmt.Fprintf(w, "%s\t%d\t%s\tverified by notary client\n", p.GUN, p.RootVersion, p.RootKeyIDs[0])
			}
			w.Flush()
			fmt.Fprintf(stdout, "rehearsal complete in %s: root key %s, signed bundle %s/signed verified and published to %s\n(%s)\n",
				res.Dir, res.RootKey.CanonicalID, res.Dir, res.Server, res.Rehearsal)
			return nil
		},
	}
	c.SetFlagErrorFunc(cliutil.FlagError)
	c.Flags().StringVar(&o.Dir, "dir", "keyrite-rehearsal", "directory to create for the rehearsal's token and bundles")
	// As keyrite's serverFlags.
	c.Flags().StringVar(&o.Server.URL, "server", "", "notary-server URL, e.g. https://notary.example:4443")
	c.Flags().StringVar(&o.Server.CAFile, "tls-ca", "", "PEM file of the CA that signed the server's certificate")
	c.Flags().StringVar(&o.Server.ClientCert, "tls-cert", "", "PEM client certificate for mutual TLS")
	c.Flags().StringVar(&o.Server.ClientKey, "tls-key", "", "PEM key of the client certificate")
	c.Flags().DurationVar(&o.Server.Timeout, "timeout", 60*time.Second, "timeout of each request")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// usagef is a command line keyrite-rehearse cannot act on (exit code 2).
var usagef = cliutil.Usagef
