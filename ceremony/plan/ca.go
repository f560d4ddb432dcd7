package plan

import (
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/ca"
)

// The Notary Project (Notation) steps: a root CA on a device key, a
// certificate issued from a CSR carried in beside the plan, a CRL. Each
// writes a CA bundle (keyrite ca init / issue / crl).

// CAInit makes a self-signed root CA certificate for a key (DEVICE/LABEL).
type CAInit struct {
	Key      string `yaml:"key,required"`
	Subject  string `yaml:"subject,required"`
	Validity string `yaml:"validity"` // default DefaultCAValidity
	// RequireAttestation refuses a CA key without a verified attestation.
	RequireAttestation bool     `yaml:"require_attestation"`
	TrustStore         string   `yaml:"trust_store"`
	Registries         []string `yaml:"registries"`
	TrustedIdentities  []string `yaml:"trusted_identities"`
}

// CAIssue issues a code-signing leaf or an intermediate CA from a CSR.
// The CA's certificate comes from an earlier ca_init or ca_issue
// (intermediate) step (from_step) or a file beside the plan (ca_cert).
type CAIssue struct {
	CA                string   `yaml:"ca,required"`
	FromStep          int      `yaml:"from_step"`
	CACert            string   `yaml:"ca_cert"`
	CSR               string   `yaml:"csr,required"`
	Intermediate      bool     `yaml:"intermediate"`
	Validity          string   `yaml:"validity"` // default DefaultLeafValidity
	CRLURLs           []string `yaml:"crl_urls"`
	TrustStore        string   `yaml:"trust_store"`
	Registries        []string `yaml:"registries"`
	TrustedIdentities []string `yaml:"trusted_identities"`
}

// CACRL signs a CRL revoking serials (hex).
type CACRL struct {
	CA                string   `yaml:"ca,required"`
	FromStep          int      `yaml:"from_step"`
	CACert            string   `yaml:"ca_cert"`
	Revoke            []string `yaml:"revoke"`
	NextUpdate        string   `yaml:"next_update"` // default DefaultCRLNextUpdate
	TrustStore        string   `yaml:"trust_store"`
	Registries        []string `yaml:"registries"`
	TrustedIdentities []string `yaml:"trusted_identities"`
}

// CANotation are a CA step's Notation trust store name, trust policy
// registries and trusted identities (each CA step's fields of the same
// names: the plan decoder has no inline structs).
type CANotation struct {
	TrustStore        string
	Registries        []string
	TrustedIdentities []string
}

// Notation is the step's Notation settings.
func (s Step) Notation() CANotation {
	switch {
	case s.CAInit != nil:
		return CANotation{s.CAInit.TrustStore, s.CAInit.Registries, s.CAInit.TrustedIdentities}
	case s.CAIssue != nil:
		return CANotation{s.CAIssue.TrustStore, s.CAIssue.Registries, s.CAIssue.TrustedIdentities}
	case s.CACRL != nil:
		return CANotation{s.CACRL.TrustStore, s.CACRL.Registries, s.CACRL.TrustedIdentities}
	}
	return CANotation{}
}

// Defaults of the CA steps.
const (
	DefaultCAValidity    = "20y"
	DefaultLeafValidity  = "1y"
	DefaultCRLNextUpdate = "30d"
)

// isCA says whether a step is a CA step.
func isCA(s Step) bool { return s.CAInit != nil || s.CAIssue != nil || s.CACRL != nil }

// producesCA says whether a step writes a CA bundle with a CA's
// certificate another step can issue from.
func producesCA(s Step) bool {
	return s.CAInit != nil || s.CAIssue != nil && s.CAIssue.Intermediate
}

// CAKeys are the keys a CA step uses.
func (s Step) CAKeys() []string {
	switch {
	case s.CAInit != nil:
		return []string{s.CAInit.Key}
	case s.CAIssue != nil:
		return []string{s.CAIssue.CA}
	case s.CACRL != nil:
		return []string{s.CACRL.CA}
	}
	return nil
}

// ca validates a CA step.
func (v *validator) ca(i int, path string, s Step) {
	v.key(i, path+"."+map[bool]string{true: "key", false: "ca"}[s.CAInit != nil], s.CAKeys()[0])
	duration := func(name, val string) {
		if val != "" {
			if _, err := ParseDuration(val); err != nil {
				v.fail(i, path+"."+name, "%v", err)
			}
		}
	}
	notation := func(n CANotation) {
		if n.TrustStore != "" {
			if err := ca.CheckStoreName(n.TrustStore); err != nil {
				v.fail(i, path+".trust_store", "%v", err)
			}
		}
		for j, r := range n.Registries {
			if err := ca.CheckRegistryScope(r); err != nil {
				v.fail(i, fmt.Sprintf("%s.registries[%d]", path, j+1), "%v", err)
			}
		}
	}
	notation(s.Notation())
	switch {
	case s.CAInit != nil:
		if _, err := ca.ParseSubject(s.CAInit.Subject); err != nil {
			v.fail(i, path+".subject", "%v", err)
		}
		duration("validity", s.CAInit.Validity)
	case s.CAIssue != nil:
		v.source(i, path, s.CAIssue.FromStep, s.CAIssue.CACert != "", "ca_cert", producesCA, "a CA's certificate")
		if s.CAIssue.CACert != "" {
			v.exists(i, path+".ca_cert", s.CAIssue.CACert)
		}
		v.exists(i, path+".csr", s.CAIssue.CSR)
		duration("validity", s.CAIssue.Validity)
		for j, u := range s.CAIssue.CRLURLs {
			if !strings.HasPrefix(u, "http://") {
				v.fail(i, fmt.Sprintf("%s.crl_urls[%d]", path, j+1), "%q: Notation fetches CRLs over http:// only", u)
			}
		}
	case s.CACRL != nil:
		v.source(i, path, s.CACRL.FromStep, s.CACRL.CACert != "", "ca_cert", producesCA, "a CA's certificate")
		if s.CACRL.CACert != "" {
			v.exists(i, path+".ca_cert", s.CACRL.CACert)
		}
		for j, r := range s.CACRL.Revoke {
			if _, err := ca.ParseSerial(r); err != nil {
				v.fail(i, fmt.Sprintf("%s.revoke[%d]", path, j+1), "%v", err)
			}
		}
		duration("next_update", s.CACRL.NextUpdate)
	}
}

// describeCA is how a CA step is read aloud.
func describeCA(s Step) string {
	switch {
	case s.CAInit != nil:
		return fmt.Sprintf("make a root CA certificate %q for key %s, valid %s", s.CAInit.Subject, s.CAInit.Key, orDefault(s.CAInit.Validity, DefaultCAValidity))
	case s.CAIssue != nil:
		what := "a code-signing certificate"
		if s.CAIssue.Intermediate {
			what = "an intermediate CA certificate"
		}
		return fmt.Sprintf("issue %s from %s with CA key %s, valid %s", what, s.CAIssue.CSR, s.CAIssue.CA, orDefault(s.CAIssue.Validity, DefaultLeafValidity))
	case s.CACRL != nil:
		return fmt.Sprintf("sign a CRL with CA key %s revoking %d certificates (%s)", s.CACRL.CA, len(s.CACRL.Revoke), strings.Join(s.CACRL.Revoke, ", "))
	}
	return ""
}
