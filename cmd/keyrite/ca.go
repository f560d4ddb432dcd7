package main

import (
	"fmt"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/spf13/cobra"
)

// keyrite ca: the Notary Project (Notation) PKI on keyrite's devices.
func newCACmd(a *App) *cobra.Command {
	return group(&cobra.Command{
		Use:   "ca",
		Short: "Offline: a Notary Project (Notation) root CA on a device key: certificates and CRLs",
		Long: `Run a Notation PKI with the same ceremony as Notary v1 root keys: a root CA
whose key stays on a YubiKey or PKCS#11 token (generated on it, attested, or
backed up with keyrite key generate), intermediate CAs and code-signing
certificates issued from CSRs carried in on the request media, and CRLs.
Each step writes a CA bundle: the certificates or CRL, the Notation trust
store (notation/truststore/x509/ca/NAME/) and trust policy
(notation/trustpolicy.json) ready to install, and a transcript sealed by the
CA key. keyrite verify checks a CA bundle like any other.`,
		Example: `  keyrite ca init --key 'pkcs11:token=ca;object=root' --subject 'CN=Example Signing Root,O=Example,ST=WA,C=US' -o root/
  keyrite ca issue --ca 'pkcs11:token=ca;object=root' --ca-cert root/ --csr /media/usb/signer.csr \
      --crl-url http://crl.example.com/root.crl --registry registry.example.com/app -o signer/
  keyrite ca crl --ca 'pkcs11:token=ca;object=root' --ca-cert root/ --revoke 3A2F... -o crl/`,
	}, newCAInitCmd(a), newCAIssueCmd(a), newCACRLCmd(a), newCACSRCmd(a))
}

// caNotationFlags are the flags that shape a CA bundle's Notation files.
func caNotationFlags(c *cobra.Command, n *ceremony.CANotation, identityHelp string) {
	c.Flags().StringVar(&n.TrustStore, "trust-store", "", "name of the Notation trust store (ca:NAME); default: from the root's CN, e.g. example-signing-root")
	c.Flags().StringArrayVar(&n.Registries, "registry", nil, "registry scope the trust policy covers, e.g. registry.example.com/team/app (repeat; none: no trust policy)")
	c.Flags().StringArrayVar(&n.Identities, "trusted-identity", nil, identityHelp)
}

func newCAInitCmd(a *App) *cobra.Command {
	var (
		o        ceremony.CAInitOptions
		validity string
		asJSON   bool
	)
	c := &cobra.Command{
		Use:   "init --key URI --subject DN -o DIR",
		Short: "Offline: make a self-signed root CA certificate for a device key",
		Long: `Make a self-signed root CA certificate for a key on any keyrite device, with
what the Notary Project signature specification requires of a root: basic
constraints CA (critical), key usage keyCertSign and cRLSign (critical), an
ECDSA P-256/P-384 key (P-521 and RSA 2048/3072/4096 are accepted too). The
device's signature is verified in software; an attested key's attestation is
verified and carried. The CA bundle holds certs/ca.crt, the Notation trust
store with the root, and with --registry a trust policy (level strict).`,
		Example: `  keyrite key generate --device 'pkcs11:token=ca' --label root --mode attested
  keyrite ca init --key 'pkcs11:token=ca;object=root' --subject 'CN=Example Signing Root,O=Example,ST=WA,C=US' --validity 20y -o root/
  keyrite verify root/`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runCA(cmd, caCheck{given: o.Key != "" && o.Subject != "" && o.Out != "", need: "--key, --subject and -o",
				uriFlag: "--key", uri: o.Key, durFlag: "--validity", dur: validity, set: &o.Validity, json: asJSON},
				func(env session.Env) (*ceremony.CAResult, error) { return ceremony.CAInit(cmd.Context(), env, o) })
		},
	}
	c.Flags().StringVar(&o.Key, "key", "", "URI of the CA key, on its device")
	c.Flags().StringVar(&o.Subject, "subject", "", "the root's distinguished name: CN=...,O=...[,OU=...][,L=...][,ST=...][,C=..]")
	c.Flags().StringVar(&validity, "validity", "20y", "how long the root is valid (e.g. 20y, 7300d)")
	c.Flags().BoolVar(&o.RequireAttestation, "require-attestation", false, "refuse a CA key without a verified attestation (a YubiKey key generated --mode attested)")
	c.Flags().StringVarP(&o.Out, "out", "o", "", "CA bundle to create: a directory, or one file ending in .tar")
	caNotationFlags(c, &o.CANotation, `trusted identity of the trust policy: "*" (default) or "x509.subject: C=US, ST=WA, O=Example, CN=..." (repeat)`)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newCAIssueCmd(a *App) *cobra.Command {
	var (
		o        ceremony.CAIssueOptions
		validity string
		asJSON   bool
	)
	c := &cobra.Command{
		Use:   "issue --ca URI --ca-cert BUNDLE|FILE --csr FILE -o DIR",
		Short: "Offline: issue a code-signing or intermediate CA certificate from a CSR",
		Long: `Issue a certificate from a certificate signing request carried in on the
request media. The CSR's signature (proof that its holder has the key) is
checked, and a key Notation would refuse (RSA below 2048, other curves) is
refused. A leaf gets key usage digitalSignature (critical) and the
codeSigning extended key usage; a CSR that asks for other extended key usages
(a TLS certificate) or to be a CA is refused. --intermediate issues a CA
certificate (path length 0) that can issue leaves. Nothing else of the CSR
is copied. --ca-cert is the CA bundle of ca init (or of ca issue
--intermediate), verified first, or a PEM file of the CA's chain.
The CA bundle holds certs/issued.crt and certs/issued-chain.pem (what
notation sign uses), the trust store and, with --registry, the trust policy.`,
		Example: `  keyrite ca issue --ca 'pkcs11:token=ca;object=root' --ca-cert root/ --csr /media/usb/ci-signer.csr \
      --validity 1y --crl-url http://crl.example.com/root.crl \
      --registry registry.example.com/team/app --trusted-identity leaf -o ci-signer/
  keyrite ca issue --ca 'pkcs11:token=ca;object=root' --ca-cert root/ --csr issuing-ca.csr --intermediate --validity 5y -o issuing-ca/`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runCA(cmd, caCheck{given: o.CA != "" && o.CACert != "" && o.CSR != "" && o.Out != "", need: "--ca, --ca-cert, --csr and -o",
				uriFlag: "--ca", uri: o.CA, durFlag: "--validity", dur: validity, set: &o.Validity, json: asJSON},
				func(env session.Env) (*ceremony.CAResult, error) { return ceremony.CAIssue(cmd.Context(), env, o) })
		},
	}
	c.Flags().StringVar(&o.CA, "ca", "", "URI of the issuing CA's key")
	c.Flags().StringVar(&o.CACert, "ca-cert", "", "the CA's CA bundle (ca init's, or ca issue --intermediate's) or a PEM file of its chain")
	c.Flags().StringVar(&o.CSR, "csr", "", "the certificate signing request (PEM)")
	c.Flags().BoolVar(&o.Intermediate, "intermediate", false, "issue an intermediate CA certificate instead of a code-signing leaf")
	c.Flags().StringVar(&validity, "validity", "1y", "how long the certificate is valid (within the CA's own validity)")
	c.Flags().StringArrayVar(&o.CRLURLs, "crl-url", nil, "http:// URL where the CA's CRL (keyrite ca crl) will be served, written into the certificate (repeat)")
	c.Flags().StringVarP(&o.Out, "out", "o", "", "CA bundle to create: a directory, or one file ending in .tar")
	caNotationFlags(c, &o.CANotation, `trusted identity of the trust policy: "leaf" (the issued leaf's subject, which needs C, ST and O), "*" (default) or "x509.subject: ..." (repeat)`)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newCACRLCmd(a *App) *cobra.Command {
	var (
		o      ceremony.CACRLOptions
		next   string
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "crl --ca URI --ca-cert BUNDLE|FILE [--revoke SERIAL...] -o DIR",
		Short: "Offline: sign a CRL revoking certificates the CA issued",
		Long: `Sign a certificate revocation list with the CA key: the serials given (hex, as
openssl x509 -serial and keyrite ca issue print them) revoked, a CRL number
(by default the ceremony's clock in seconds, so each CRL's number is larger
than the last) and a next update, after which Notation treats the CRL as
expired and verification with revocation checking fails: sign a new CRL
before then. Serve crl/ca.crl (DER) at the --crl-url the certificates name.`,
		Example: `  keyrite ca crl --ca 'pkcs11:token=ca;object=root' --ca-cert root/ --revoke 3A2F9C... --next-update 30d -o crl-2026-12/
  openssl crl -inform DER -in crl-2026-12/crl/ca.crl -noout -text`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runCA(cmd, caCheck{given: o.CA != "" && o.CACert != "" && o.Out != "", need: "--ca, --ca-cert and -o",
				uriFlag: "--ca", uri: o.CA, durFlag: "--next-update", dur: next, set: &o.NextUpdate, json: asJSON},
				func(env session.Env) (*ceremony.CAResult, error) { return ceremony.CACRL(cmd.Context(), env, o) })
		},
	}
	c.Flags().StringVar(&o.CA, "ca", "", "URI of the CA's key")
	c.Flags().StringVar(&o.CACert, "ca-cert", "", "the CA's CA bundle or a PEM file of its chain")
	c.Flags().StringArrayVar(&o.Revoke, "revoke", nil, "serial number of a certificate to revoke, hex (repeat)")
	c.Flags().StringVar(&o.Number, "number", "", "CRL number, decimal (default: the clock in seconds)")
	c.Flags().StringVar(&next, "next-update", "30d", "how long the CRL is current")
	c.Flags().StringVarP(&o.Out, "out", "o", "", "CA bundle to create: a directory, or one file ending in .tar")
	caNotationFlags(c, &o.CANotation, `trusted identity of the trust policy: "*" (default) or "x509.subject: ..." (repeat)`)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newCACSRCmd(a *App) *cobra.Command {
	var o ceremony.CACSROptions
	c := &cobra.Command{
		Use:   "csr --key URI --subject DN -o FILE",
		Short: "Offline: write a certificate signing request for a device key (an intermediate CA's)",
		Long: `Write a PEM certificate signing request signed by a key on a device, so that
an intermediate CA whose key lives on its own YubiKey or token can be issued
by the root (keyrite ca issue --intermediate). The request's signature is
verified in software.`,
		Example: `  keyrite ca csr --key 'pkcs11:token=issuing;object=ca' --subject 'CN=Example Issuing CA,O=Example' -o issuing.csr
  keyrite ca issue --ca 'pkcs11:token=root;object=ca' --ca-cert root/ --csr issuing.csr --intermediate --validity 5y -o issuing/`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Key == "" || o.Subject == "" || o.Out == "" {
				return usagef(cmd, "--key, --subject and -o are required")
			}
			if err := checkURIs(cmd, "--key", o.Key); err != nil {
				return err
			}
			if err := ceremony.CACSR(cmd.Context(), a.env(), o); err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "wrote %s\n", o.Out)
			return nil
		},
	}
	c.Flags().StringVar(&o.Key, "key", "", "URI of the key the request is for")
	c.Flags().StringVar(&o.Subject, "subject", "", "distinguished name: CN=...,O=...[,OU=...][,L=...][,ST=...][,C=..]")
	c.Flags().StringVarP(&o.Out, "out", "o", "", "the request file to create")
	return c
}

// caCheck is what a CA command checks before it runs: its required flags,
// its key URI and its duration flag (set from dur).
type caCheck struct {
	given        bool
	need         string
	uriFlag, uri string
	durFlag, dur string
	set          *time.Duration
	json         bool
}

// runCA checks a CA command's flags as usage errors, runs it and prints
// its result.
func (a *App) runCA(cmd *cobra.Command, c caCheck, run func(env session.Env) (*ceremony.CAResult, error)) error {
	if !c.given {
		return usagef(cmd, "%s are required", c.need)
	}
	if err := checkURIs(cmd, c.uriFlag, c.uri); err != nil {
		return err
	}
	d, err := parseExpiry(c.dur)
	if err != nil {
		return usagef(cmd, "%s: %v", c.durFlag, err)
	}
	*c.set = d
	res, err := run(a.env())
	if err != nil {
		return err
	}
	return printCA(a, res, c.json)
}

// printCA reports a CA step.
func printCA(a *App, res *ceremony.CAResult, asJSON bool) error {
	a.warnSoftware(res.Software)
	if asJSON {
		return a.printJSON(res)
	}
	r := res.Record
	fmt.Fprintf(a.Stdout, "CA %s  serial %s  key %s (%s)  valid until %s\n", r.CA.Subject, r.CA.Serial, shortIDs([]string{r.CA.KeyID}),
		r.CA.Algorithm, r.CA.NotAfter.Format("2006-01-02"))
	if at := res.Attestation; at != nil {
		fmt.Fprintf(a.Stdout, "attested: YubiKey serial %d, firmware %s, slot %s\n", at.Serial, at.Firmware, at.Slot)
	}
	if i := r.Issued; i != nil {
		fmt.Fprintf(a.Stdout, "issued %s %s  serial %s  %s  valid until %s\n", i.Kind, i.Subject, i.Serial, i.Algorithm, i.NotAfter.Format("2006-01-02"))
	}
	if c := r.CRL; c != nil {
		fmt.Fprintf(a.Stdout, "CRL number %s  revokes %d  next update %s\n", c.Number, len(c.Revoked), c.NextUpdate.Format("2006-01-02"))
	}
	fmt.Fprintf(a.Stdout, "Notation trust store ca:%s", r.TrustStore)
	if len(r.Registries) > 0 {
		fmt.Fprintf(a.Stdout, ", trust policy for %v", r.Registries)
	}
	install := fmt.Sprintf("cp -r %s/notation/. ~/.config/notation/", res.Out)
	if bundle.IsTarPath(res.Out) {
		install = fmt.Sprintf("tar -xf %s -C ~/.config notation/", res.Out)
	}
	fmt.Fprintf(a.Stdout, "\nwrote %s (verified); install: %s\n", res.Out, install)
	if res.Software {
		fmt.Fprintf(a.Stdout, "(%s)\n", hsm.SoftwareLabel)
	}
	return nil
}
