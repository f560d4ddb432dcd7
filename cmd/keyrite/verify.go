package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/hsm"
	"github.com/spf13/cobra"
)

func newVerifyCmd(a *App) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "verify BUNDLE",
		Short: "Offline: verify a signed bundle completely",
		Long: `Check a signed bundle without any network: the manifests (every file's length
and SHA-256), the transcript's hash chain, and for every GUN canonical JSON,
signatures and thresholds per role, root certificates (CN = GUN, valid now),
versions, that the server keys in root are those of the request bundle, and
the seal: signed by the keys that signed, over the transcript head, every
line and every file (keyrite transcript verify shows the ceremony step by
step). A CA bundle (keyrite ca) is checked the same way: every certificate's
signature in software, the chain against the Notary Project's rules, the CRL's
signature, the trust store and policy, and the seal by the CA key.
Exit code 4 when anything fails.`,
		Example: `  keyrite verify signed/
  keyrite verify --json signed/ | jq '.repos[].roles'
  keyrite verify root-ca/`,
		Args: exactArgs(1, "one bundle directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			env := a.env()
			if kind, _ := bundle.KindOf(args[0]); kind == bundle.KindCA {
				return verifyCA(a, args[0], asJSON)
			}
			// Read once: the checks below and the trust store's see the
			// same files.
			s, err := bundle.ReadSigned(args[0])
			if err != nil {
				return err
			}
			rep, err := verify.Signed(s, a.Now(), env.VerifyOptions())
			var inc *verify.IncompleteError
			out := verifyOutput{Report: rep}
			if err == nil || errors.As(err, &inc) {
				// This machine's pins have a say too: the root the bundle
				// starts from must chain from the one trusted here.
				notes, terr := ceremony.CheckTrust(env, s)
				if terr != nil {
					rep.OK, err = false, terr
				}
				out.Trust = notes
			}
			if asJSON && rep != nil {
				if err != nil {
					return withReport(err, out)
				}
				return a.printJSON(out)
			}
			if err != nil && !errors.As(err, &inc) {
				return err
			}
			if !asJSON {
				printVerify(a, rep)
				for _, n := range out.Trust {
					fmt.Fprintf(a.Stdout, "trust: %s: %s\n", n.GUN, n.Note)
				}
			}
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON (also when verification fails)")
	return c
}

func printVerify(a *App, rep *verify.Report) {
	a.warnSoftware(rep.Rehearsal)
	for _, r := range rep.Repos {
		fmt.Fprintf(a.Stdout, "%s\n", r.GUN)
		for _, role := range r.Roles {
			state := "OK"
			if !role.ThresholdMet {
				state = "THRESHOLD NOT MET"
			}
			fmt.Fprintf(a.Stdout, "  %-8s v%d  expires %s  signed by %d of %d required (%s)  %s\n", role.Role, role.Version,
				role.Expires.Format("2006-01-02"), len(role.SignedBy), role.Threshold, shortIDs(role.SignedBy), state)
		}
		for _, c := range r.RootCerts {
			fmt.Fprintf(a.Stdout, "  root key %s  CN=%s  valid until %s\n", c.KeyID, c.CommonName, c.NotAfter.Format("2006-01-02"))
		}
	}
	for _, at := range rep.Attestations {
		fmt.Fprintf(a.Stdout, "attested root key %s: YubiKey serial %d, firmware %s, slot %s, PIN %s, touch %s\n",
			shortIDs([]string{at.KeyID}), at.Serial, at.Firmware, at.Slot, at.PINPolicy, at.TouchPolicy)
		for _, w := range at.Warnings {
			fmt.Fprintf(a.Stderr, "keyrite: warning: attested root key %s: %s\n", shortIDs([]string{at.KeyID}), w)
		}
	}
	printSeal(a, rep)
	verdict := "verified"
	if !rep.OK {
		verdict = "verified but NOT fully signed"
	}
	fmt.Fprintf(a.Stdout, "bundle %s %s: %d repositories for %s, transcript %d lines (head %s)\n",
		rep.Bundle, verdict, len(rep.Repos), rep.Server, rep.TranscriptLines, rep.TranscriptHead[:16])
	if rep.Rehearsal {
		fmt.Fprintf(a.Stdout, "(%s)\n", hsm.SoftwareLabel)
	}
}

func shortIDs(ids []string) string {
	var s []string
	for _, id := range ids {
		if len(id) > 12 {
			id = id[:12]
		}
		s = append(s, id)
	}
	return strings.Join(s, ", ")
}

// verifyOutput is verify's JSON: the bundle's report and what this
// machine's trust store says of it.
type verifyOutput struct {
	*verify.Report
	Trust []ceremony.TrustNote `json:"trust,omitempty"`
}
