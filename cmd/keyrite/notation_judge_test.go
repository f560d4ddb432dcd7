package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/notaryproject/notation-core-go/revocation"
	crlfetch "github.com/notaryproject/notation-core-go/revocation/crl"
	"github.com/notaryproject/notation-core-go/revocation/purpose"
	_ "github.com/notaryproject/notation-core-go/signature/cose"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/dir"
	"github.com/notaryproject/notation-go/registry"
	"github.com/notaryproject/notation-go/signer"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"

	"github.com/keyrite/keyrite/ca"
)

// notation-go (the Notary Project's own library) is the judge of what
// keyrite ca makes. It is a test dependency only (TestNoNotationInBinary).

// crlServer serves one CA's CRL on 127.0.0.1, as the --crl-url names it,
// and counts the fetches: proof that the verifier checked revocation by CRL.
type crlServer struct {
	*httptest.Server
	mu      sync.Mutex
	crl     []byte
	fetches atomic.Int32
}

func startCRLServer(t *testing.T) *crlServer {
	s := &crlServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.crl == nil || r.URL.Path != "/root.crl" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Write(s.crl)
	}))
	t.Cleanup(s.Close)
	return s
}

// serve makes the server serve a CA bundle's crl/ca.crl.
func (s *crlServer) serve(t *testing.T, bundleDir string) {
	b, err := os.ReadFile(filepath.Join(bundleDir, "crl", "ca.crl"))
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.crl = b
	s.mu.Unlock()
}

// writeCSR makes a signer's key and a CSR for it; ekus, when given, are
// requested as an extension (a request for something other than code
// signing).
func writeCSR(t *testing.T, path string, subject pkix.Name, ekus ...asn1.ObjectIdentifier) crypto.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	writeCSRFor(t, path, key, subject, ekus...)
	return key
}

func writeCSRFor(t *testing.T, path string, key crypto.Signer, subject pkix.Name, ekus ...asn1.ObjectIdentifier) {
	t.Helper()
	tmpl := &x509.CertificateRequest{Subject: subject}
	if len(ekus) > 0 {
		v, err := asn1.Marshal(ekus)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Value: v}}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ociArtifact makes a local OCI layout holding one artifact and returns
// its digest.
func ociArtifact(t *testing.T, layout string) string {
	t.Helper()
	ctx := context.Background()
	store, err := oci.New(layout)
	if err != nil {
		t.Fatal(err)
	}
	blob := []byte("the release keyrite's PKI signs")
	desc := content.NewDescriptorFromBytes("application/vnd.example.release", blob)
	if err := store.Push(ctx, desc, bytes.NewReader(blob)); err != nil {
		t.Fatal(err)
	}
	m, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, "application/vnd.example.release",
		oras.PackManifestOptions{Layers: []ocispec.Descriptor{desc}})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Tag(ctx, m, "v1"); err != nil {
		t.Fatal(err)
	}
	return m.Digest.String()
}

// notationSign signs the layout's artifact as notation sign does, with a
// key and the certificate chain a CA bundle issued for it.
func notationSign(t *testing.T, layout, digest string, key crypto.Signer, chainPEM string) {
	t.Helper()
	b, err := os.ReadFile(chainPEM)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := ca.ParsePEMChain(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.NewGenericSigner(key, chain)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := registry.NewOCIRepository(layout, registry.RepositoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := notation.Sign(context.Background(), s, repo, notation.SignOptions{
		SignerSignOptions: notation.SignerSignOptions{SignatureMediaType: "application/cose"},
		ArtifactReference: digest}); err != nil {
		t.Fatalf("notation sign: %v", err)
	}
}

// notationVerify verifies the layout's artifact, as ref names it, with a
// CA bundle's Notation directory installed (its trust store and trust
// policy), checking revocation by CRL over HTTP.
func notationVerify(t *testing.T, notationDir, layout, ref string) error {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(notationDir, "trustpolicy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc trustpolicy.Document
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	fetcher, err := crlfetch.NewHTTPFetcher(&http.Client{})
	if err != nil {
		t.Fatal(err)
	}
	rv, err := revocation.NewWithOptions(revocation.Options{CRLFetcher: fetcher, CertChainPurpose: purpose.CodeSigning})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.NewWithOptions(&doc, truststore.NewX509TrustStore(dir.NewSysFS(notationDir)), nil,
		verifier.VerifierOptions{RevocationCodeSigningValidator: rv})
	if err != nil {
		t.Fatalf("notation-go refuses the bundle's trust policy: %v", err)
	}
	repo, err := registry.NewOCIRepository(layout, registry.RepositoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = notation.Verify(context.Background(), v, repo, notation.VerifyOptions{ArtifactReference: ref, MaxSignatureAttempts: 10})
	return err
}
