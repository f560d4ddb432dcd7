package ca

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"regexp"
	"strings"
)

// What a Notation verifier installs: its configuration directory
// (~/.config/notation) holds truststore/x509/ca/NAME/*.crt and
// trustpolicy.json. A CA bundle carries both under NotationDir, so that
// installing is copying that directory's contents.
const (
	NotationDir     = "notation/"
	TrustPolicyName = NotationDir + "trustpolicy.json"
	PolicyVersion   = "1.0"
	// AnyIdentity trusts every leaf the trust store's CAs issued.
	AnyIdentity = "*"
)

// TrustStoreFile is where a bundle holds a named CA trust store's root.
func TrustStoreFile(store string) string {
	return NotationDir + "truststore/x509/ca/" + store + "/" + store + ".crt"
}

var (
	storeNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)
	// As notation-go's trust policy validation (from distribution's
	// reference grammar).
	domainRE     = regexp.MustCompile(`^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+)?(?::[0-9]+)?$`)
	repositoryRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?(?:(?:/[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?)+)?$`)
)

// PolicyError is a trust store name, registry scope, identity or CRL URL
// Notation would refuse.
type PolicyError struct {
	What   string // "" is the trust policy
	Reason string
}

func (e *PolicyError) Error() string {
	if e.What == "" {
		return "trust policy: " + e.Reason
	}
	return e.What + ": " + e.Reason
}

// CheckStoreName refuses a trust store name Notation would refuse.
func CheckStoreName(name string) error {
	if !storeNameRE.MatchString(name) {
		return &PolicyError{Reason: fmt.Sprintf("trust store name %q: use letters, digits, '.', '_' and '-' only", name)}
	}
	return nil
}

// CheckRegistryScope refuses a registry scope Notation would refuse: a
// fully qualified repository without scheme or tag
// (registry.example.com/team/app), or "*" alone.
func CheckRegistryScope(scope string) error {
	if scope == AnyIdentity {
		return nil
	}
	domain, repo, ok := strings.Cut(scope, "/")
	if !ok || !domainRE.MatchString(domain) || !repositoryRE.MatchString(repo) {
		return &PolicyError{Reason: fmt.Sprintf("registry scope %q is not a repository like registry.example.com/team/app (no scheme, tag or digest)", scope)}
	}
	return nil
}

// Identity is the trusted identity that names a leaf: x509.subject: its
// subject. Notation matches only subjects with C, ST and O; a leaf without
// them can only be trusted as "*".
func Identity(leaf *x509.Certificate) (string, error) {
	s := leaf.Subject
	if len(s.Country) != 1 || len(s.Province) != 1 || len(s.Organization) != 1 {
		return "", &PolicyError{Reason: fmt.Sprintf("the leaf's subject %q needs exactly one C, ST and O to be a Notation trusted identity; trust \"*\" instead, or issue a leaf whose subject has them", s.String())}
	}
	return "x509.subject: " + s.String(), nil
}

// Policy is a Notation trust policy document, version 1.0.
type Policy struct {
	Version       string            `json:"version"`
	TrustPolicies []PolicyStatement `json:"trustPolicies"`
}

// PolicyStatement is one statement of a trust policy.
type PolicyStatement struct {
	Name                  string       `json:"name"`
	RegistryScopes        []string     `json:"registryScopes"`
	SignatureVerification Verification `json:"signatureVerification"`
	TrustStores           []string     `json:"trustStores"`
	TrustedIdentities     []string     `json:"trustedIdentities"`
}

// Verification is a statement's signature verification level.
type Verification struct {
	Level string `json:"level"`
}

// NewPolicy is the trust policy a CA bundle carries: one statement, named
// after the trust store, for the registries given, verification level
// strict (integrity, authenticity, expiry and revocation enforced), the
// trust store ca:store, and the identities given.
func NewPolicy(store string, registries, identities []string) (*Policy, error) {
	if err := CheckStoreName(store); err != nil {
		return nil, err
	}
	if len(registries) == 0 {
		return nil, &PolicyError{Reason: "no registry scope given"}
	}
	seen := map[string]bool{}
	for _, r := range registries {
		if err := CheckRegistryScope(r); err != nil {
			return nil, err
		}
		if seen[r] {
			return nil, &PolicyError{Reason: fmt.Sprintf("registry scope %q is given twice", r)}
		}
		seen[r] = true
	}
	if seen[AnyIdentity] && len(registries) > 1 {
		return nil, &PolicyError{Reason: "the registry scope \"*\" cannot be given with others"}
	}
	if len(identities) == 0 {
		return nil, &PolicyError{Reason: "no trusted identity"}
	}
	for _, id := range identities {
		v, ok := strings.CutPrefix(id, "x509.subject:")
		switch {
		case id == AnyIdentity && len(identities) > 1:
			return nil, &PolicyError{Reason: "the trusted identity \"*\" cannot be given with others"}
		case id != AnyIdentity && (!ok || strings.TrimSpace(v) == ""):
			return nil, &PolicyError{Reason: fmt.Sprintf("trusted identity %q: give \"*\" or \"x509.subject: C=US, ST=WA, O=Example, CN=...\"", id)}
		}
	}
	return &Policy{Version: PolicyVersion, TrustPolicies: []PolicyStatement{{Name: store, RegistryScopes: registries,
		SignatureVerification: Verification{Level: "strict"}, TrustStores: []string{"ca:" + store},
		TrustedIdentities: identities}}}, nil
}

// Marshal is the policy as trustpolicy.json holds it.
func (p *Policy) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	return append(b, '\n'), err
}

// ParsePolicy reads a trust policy strictly (no unknown field) and checks
// it as NewPolicy builds it.
func ParsePolicy(b []byte) (*Policy, error) {
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, &PolicyError{Reason: err.Error()}
	}
	if p.Version != PolicyVersion || len(p.TrustPolicies) != 1 {
		return nil, &PolicyError{Reason: "not a version 1.0 policy of one statement"}
	}
	st := p.TrustPolicies[0]
	q, err := NewPolicy(st.Name, st.RegistryScopes, st.TrustedIdentities)
	if err != nil {
		return nil, err
	}
	if st.SignatureVerification != q.TrustPolicies[0].SignatureVerification || len(st.TrustStores) != 1 || st.TrustStores[0] != "ca:"+st.Name {
		return nil, &PolicyError{Reason: fmt.Sprintf("statement %q is not level strict with trust store ca:%s", st.Name, st.Name)}
	}
	return &p, nil
}

// PEM encodes certificates, in order.
func PEM(certs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

// ParsePEMChain reads PEM certificates (nothing else, no headers), in
// order.
func ParsePEMChain(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := bytes.TrimSpace(b)
	for len(rest) > 0 {
		block, r := pem.Decode(rest)
		if block == nil || block.Type != "CERTIFICATE" || len(block.Headers) > 0 {
			return nil, fmt.Errorf("not PEM certificates (one CERTIFICATE block after another, nothing else)")
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		rest = bytes.TrimSpace(r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no certificate")
	}
	return out, nil
}
