package main

import (
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/hsm"
)

// verifyCA is keyrite verify of a CA bundle.
func verifyCA(a *App, dir string, asJSON bool) error {
	rep, err := verify.CADir(dir, a.Now(), a.env().VerifyOptions())
	if asJSON && rep != nil {
		if err != nil {
			return withReport(err, rep)
		}
		return a.printJSON(rep)
	}
	if err != nil {
		return err
	}
	a.warnSoftware(rep.Record.Rehearsal)
	r := rep.Record
	fmt.Fprintf(a.Stdout, "CA %s (%s)  serial %s  key %s  valid until %s\n", r.CA.Subject, r.CA.Kind, r.CA.Serial,
		shortIDs([]string{r.CA.KeyID}), r.CA.NotAfter.Format("2006-01-02"))
	if i := r.Issued; i != nil {
		fmt.Fprintf(a.Stdout, "  issued %s %s  serial %s  valid until %s\n", i.Kind, i.Subject, i.Serial, i.NotAfter.Format("2006-01-02"))
	}
	if c := r.CRL; c != nil {
		fmt.Fprintf(a.Stdout, "  CRL number %s  revokes %v  next update %s\n", c.Number, c.Revoked, c.NextUpdate.Format("2006-01-02"))
	}
	if at := rep.Attestation; at != nil {
		fmt.Fprintf(a.Stdout, "  attested CA key: YubiKey serial %d, firmware %s, slot %s, PIN %s, touch %s\n", at.Serial, at.Firmware, at.Slot, at.PINPolicy, at.TouchPolicy)
	}
	policy := "no trust policy"
	if len(r.Registries) > 0 {
		policy = fmt.Sprintf("trust policy for %s trusting %s", strings.Join(r.Registries, ", "), strings.Join(r.Identities, "; "))
	}
	fmt.Fprintf(a.Stdout, "  Notation trust store ca:%s, %s\n", r.TrustStore, policy)
	fmt.Fprintf(a.Stdout, "CA bundle %s verified: sealed by the CA key, %d witness signature(s), transcript %d lines (head %s)\n", dir, len(rep.Witnesses), rep.TranscriptLines, rep.TranscriptHead[:16])
	if r.Rehearsal {
		fmt.Fprintf(a.Stdout, "(%s)\n", hsm.SoftwareLabel)
	}
	return nil
}
