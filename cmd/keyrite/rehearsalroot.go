package main

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm/yubikey"
	"github.com/keyrite/keyrite/internal/fsutil"
)

// rehearsalRoot is the attestation root the operator declared for a
// rehearsal on a virtual YubiKey (--rehearsal-attestation-root). With it,
// attestations that chain to it are accepted, marked as rehearsal, and
// everything keyrite writes is a rehearsal (which publish refuses for a
// server not on this machine). Without it — a real run — only Yubico's
// roots are trusted, and nothing can add another.
type rehearsalRoot struct {
	path string
	cert *x509.Certificate
}

func addRehearsalRootFlag(a *App, root *cobra.Command) {
	root.PersistentFlags().StringVar(&a.rehearsalRootFile, "rehearsal-attestation-root", "",
		"REHEARSAL ONLY: also trust attestations that chain to this root certificate (PEM; a virtual YubiKey's, e.g. DIR/ca/ca.pem of scripts/virtual-yubikey); everything written is then marked as a rehearsal")
}

// loadRehearsalRoot reads the declared rehearsal root and registers the
// YubiKey attestation verifier with it, before the command runs.
func (a *App) loadRehearsalRoot(c *cobra.Command) error {
	if a.rehearsalRootFile == "" {
		return nil
	}
	raw, err := fsutil.ReadRegular(a.rehearsalRootFile, 64<<10)
	if err != nil {
		return usagef(c, "--rehearsal-attestation-root: %v", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "CERTIFICATE" {
		return usagef(c, "--rehearsal-attestation-root: %s is not a PEM certificate", a.rehearsalRootFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return usagef(c, "--rehearsal-attestation-root: %s: %v", a.rehearsalRootFile, err)
	}
	if !cert.IsCA {
		return usagef(c, "--rehearsal-attestation-root: %s is not a CA certificate (subject %q)", a.rehearsalRootFile, cert.Subject.String())
	}
	a.rehearsal = &rehearsalRoot{path: a.rehearsalRootFile, cert: cert}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	a.registry.RegisterAttestation(yubikey.Format, yubikey.AttestationVerifier{Roots: a.attestRoots, Rehearsal: pool})
	fmt.Fprintf(a.Stderr, "keyrite: warning: REHEARSAL: attestations that chain to %q (%s) are accepted as rehearsal attestations; everything written is marked as a rehearsal\n",
		cert.Subject.String(), a.rehearsalRootFile)
	return nil
}

// markRehearsal makes an environment a declared rehearsal, recording the
// rehearsal root in every ceremony.start line.
func (a *App) markRehearsal(env *session.Env) {
	if a.rehearsal == nil {
		return
	}
	env.Rehearsal = true
	sum := sha256.Sum256(a.rehearsal.cert.Raw)
	start := map[string]any{}
	for k, v := range env.Start {
		start[k] = v
	}
	start["rehearsal_attestation_root"] = map[string]any{"subject": a.rehearsal.cert.Subject.String(), "sha256": hex.EncodeToString(sum[:])}
	env.Start = start
}
