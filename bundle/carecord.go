package bundle

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// A CA bundle is what keyrite ca init, ca issue and ca crl write: like a
// key record (manifest.json, kind "ca"), it holds ca.json, the step's
// transcript sealed by the CA key, the certificates or the CRL made, and
// the Notation trust store and trust policy to install (see package ca).
const (
	KindCA     = "ca"
	CAInfoName = "ca.json"
	caFormat   = "keyrite-ca/v1"

	// Where a CA bundle holds what it made.
	CACertFile   = "certs/ca.crt"           // the certificate of the CA key that signed
	CAChainFile  = "certs/ca-chain.pem"     // that certificate up to its root
	IssuedFile   = "certs/issued.crt"       // ca issue: the certificate issued
	IssuedChain  = "certs/issued-chain.pem" // ca issue: it and its chain, for notation sign
	CRLFile      = "crl/ca.crl"             // ca crl: the CRL, DER, as served over HTTP
	caNotationIn = "notation/"
)

// CARecord is ca.json. The step's transcript line (ca.init, ca.issue or
// ca.crl) holds the same record, without Format and Rehearsal.
type CARecord struct {
	Format  string    `json:"format,omitempty"`
	Step    string    `json:"step"` // init, issue or crl
	Created time.Time `json:"created"`
	CA      CACert    `json:"ca"`
	Issued  *CACert   `json:"issued,omitempty"`
	CRL     *CRLInfo  `json:"crl,omitempty"`
	// The Notation trust store (its name) and trust policy the bundle
	// carries: for the registries given, trusting the identities given.
	TrustStore string   `json:"trust_store"`
	Registries []string `json:"registries,omitempty"`
	Identities []string `json:"trusted_identities,omitempty"`
	// Files maps each file the step made to its SHA-256.
	Files     map[string]string `json:"files"`
	Rehearsal bool              `json:"rehearsal,omitempty"`
}

// CACert describes a certificate of a CA bundle.
type CACert struct {
	Kind      string    `json:"kind"` // root, intermediate or leaf
	Subject   string    `json:"subject"`
	Serial    string    `json:"serial"` // hex, as openssl x509 -serial prints it
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	KeyID     string    `json:"key_id,omitempty"` // the CA key's ID (canonical, as keyrite reports keys)
	KeyURI    string    `json:"key_uri,omitempty"`
	Algorithm string    `json:"algorithm"`
	CRLURLs   []string  `json:"crl_urls,omitempty"`
	SHA256    string    `json:"sha256"` // of the DER certificate
}

// CRLInfo describes a CRL of a CA bundle.
type CRLInfo struct {
	Number     string    `json:"number"`
	ThisUpdate time.Time `json:"this_update"`
	NextUpdate time.Time `json:"next_update"`
	Revoked    []string  `json:"revoked"` // serials, hex
}

// CAFiles are a CA bundle's files but its manifest and seal.
func CAFiles(rec CARecord, transcript []byte, made Files) (Files, error) {
	rec.Format = caFormat
	return recordFiles(CAInfoName, rec, transcript, made)
}

// ReadCA reads a CA bundle through its manifest: ca.json (strict), the
// transcript, the seal, the certificates, CRL, Notation files,
// attestations and witnesses it may hold, nothing else.
func ReadCA(dir string) (Files, *CARecord, error) {
	files, err := Read(dir, KindCA)
	if err != nil {
		return nil, nil, err
	}
	var rec CARecord
	if err := decodeStrict(files[CAInfoName], &rec); err != nil || rec.Format != caFormat {
		return nil, nil, &Error{Bundle: dir, Reason: fmt.Sprintf("%s is missing or not a keyrite CA record", CAInfoName)}
	}
	var extra []string
	for p := range files {
		switch {
		case p == CAInfoName, p == TranscriptName, IsSealFile(p), strings.HasPrefix(p, "attestations/"),
			strings.HasPrefix(p, "certs/"), strings.HasPrefix(p, "crl/"), strings.HasPrefix(p, caNotationIn):
		default:
			extra = append(extra, p)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return nil, nil, &Error{Bundle: dir, Reason: fmt.Sprintf("%s: not a file of a CA bundle", strings.Join(extra, ", "))}
	}
	return files, &rec, nil
}
