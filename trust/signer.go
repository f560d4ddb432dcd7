package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrite/keyrite/hsm"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
)

// deviceKey lets notary's signing code use a device key: notary asks a
// data.PrivateKey for TUF signatures (raw r‖s over SHA-256 of the message);
// devices give DER over a digest. Every signature is checked with notary's
// own verifier before it is handed back.
type deviceKey struct {
	data.PublicKey // the bare key
	signer         crypto.Signer
	count          *atomic.Int64
	used           atomic.Bool
}

func (k *deviceKey) Sign(r io.Reader, msg []byte, _ crypto.SignerOpts) ([]byte, error) {
	pub, ok := k.signer.Public().(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", k.signer.Public())
	}
	// notary's "ecdsa" method is over SHA-256 whatever the curve.
	digest := sha256.Sum256(msg)
	der, err := k.signer.Sign(r, digest[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	k.count.Add(1)
	k.used.Store(true)
	raw, err := hsm.DERToRaw(der, hsm.CurveSize(pub.Curve))
	if err != nil {
		return nil, err
	}
	if err := signed.Verifiers[data.ECDSASignature].Verify(k.PublicKey, raw, msg); err != nil {
		return nil, fmt.Errorf("device signature does not verify in software: %w", err)
	}
	return raw, nil
}

func (k *deviceKey) Private() []byte                       { return nil }
func (k *deviceKey) CryptoSigner() crypto.Signer           { return k.signer }
func (k *deviceKey) SignatureAlgorithm() data.SigAlgorithm { return data.ECDSASignature }

// KeyService is a notary CryptoService over keys held by devices. It only
// signs; it never creates or exports keys.
type KeyService struct {
	mu    sync.RWMutex          // repositories of a batch are made on several goroutines
	keys  map[string]*deviceKey // by canonical key ID
	order []string              // key IDs in the order added
	roles map[string]data.RoleName
	// bySigner finds the entry of a signer added before (comparable
	// signers only; others are looked up by their public key's ID).
	bySigner map[crypto.Signer]*deviceKey
	count    atomic.Int64
}

// NewKeyService returns an empty key service.
func NewKeyService() *KeyService {
	return &KeyService{keys: map[string]*deviceKey{}, roles: map[string]data.RoleName{}, bySigner: map[crypto.Signer]*deviceKey{}}
}

// Add makes a device key available for signing and returns its bare TUF
// public key.
func (s *KeyService) Add(signer crypto.Signer, role data.RoleName) (data.PublicKey, error) {
	if k := s.known(signer); k != nil {
		s.mu.Lock()
		s.roles[k.ID()] = role
		s.mu.Unlock()
		return k.PublicKey, nil
	}
	pub, err := PublicKey(signer.Public())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.keys[pub.ID()]
	if !ok {
		s.order = append(s.order, pub.ID())
	}
	// The same signer added again (once per repository of a batch) keeps
	// its entry: what it signed for one repository still counts.
	if !ok || !sameSigner(old.signer, signer) {
		k := &deviceKey{PublicKey: pub, signer: signer, count: &s.count}
		s.keys[pub.ID()] = k
		if comparable(signer) {
			s.bySigner[signer] = k
		}
	}
	s.roles[pub.ID()] = role
	return pub, nil
}

func sameSigner(a, b crypto.Signer) bool {
	return reflect.TypeOf(a) == reflect.TypeOf(b) && comparable(a) && a == b
}

func comparable(signer crypto.Signer) bool { return reflect.TypeOf(signer).Comparable() }

// known is the entry of a signer added before, nil if there is none: a
// batch adds the same keys for each of its repositories, and converting a
// device's public key to notary's form each time was a twentieth of a
// repository's work.
func (s *KeyService) known(signer crypto.Signer) *deviceKey {
	if !comparable(signer) {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	// Another signer of the same key added since has the entry now.
	if k := s.bySigner[signer]; k != nil && s.keys[k.ID()] == k {
		return k
	}
	return nil
}

// Certify makes a root certificate for a GUN with a device key (see
// RootCertificate), counting its signature.
func (s *KeyService) Certify(signer crypto.Signer, gun string, notBefore, notAfter time.Time, r io.Reader) (*x509.Certificate, data.PublicKey, error) {
	cert, pub, err := RootCertificate(signer, gun, notBefore, notAfter, r)
	if err == nil {
		s.count.Add(1)
		if k := s.known(signer); k != nil {
			k.used.Store(true)
		} else if bare, perr := PublicKey(signer.Public()); perr == nil {
			if k, ok := s.key(bare.ID()); ok {
				k.used.Store(true)
			}
		}
	}
	return cert, pub, err
}

// Used are the keys that made at least one signature, in the order they
// were added: the keys that seal the ceremony.
func (s *KeyService) Used() []crypto.Signer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []crypto.Signer
	for _, id := range s.order {
		if k, ok := s.keys[id]; ok && k.used.Load() {
			out = append(out, k.signer)
		}
	}
	return out
}

// Signatures is the number of signatures the devices have made.
func (s *KeyService) Signatures() int64 { return s.count.Load() }

// Create implements signed.CryptoService; keys are made on devices instead.
func (s *KeyService) Create(role data.RoleName, gun data.GUN, algorithm string) (data.PublicKey, error) {
	return nil, fmt.Errorf("keyrite creates keys on devices, not through notary")
}

// AddKey implements signed.CryptoService; private keys are never accepted.
func (s *KeyService) AddKey(role data.RoleName, gun data.GUN, key data.PrivateKey) error {
	return fmt.Errorf("keyrite does not hold private keys in software")
}

// GetKey implements signed.CryptoService.
func (s *KeyService) GetKey(keyID string) data.PublicKey {
	if k, ok := s.key(keyID); ok {
		return k.PublicKey
	}
	return nil
}

// GetPrivateKey implements signed.CryptoService.
func (s *KeyService) GetPrivateKey(keyID string) (data.PrivateKey, data.RoleName, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if k, ok := s.keys[keyID]; ok {
		return k, s.roles[keyID], nil
	}
	return nil, "", trustmanager.ErrKeyNotFound{KeyID: keyID}
}

// RemoveKey implements signed.CryptoService.
func (s *KeyService) RemoveKey(keyID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, keyID)
	return nil
}

func (s *KeyService) key(id string) (*deviceKey, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[id]
	return k, ok
}

// ListKeys implements signed.CryptoService.
func (s *KeyService) ListKeys(role data.RoleName) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for id, r := range s.roles {
		if r == role {
			out = append(out, id)
		}
	}
	return out
}

// ListAllKeys implements signed.CryptoService.
func (s *KeyService) ListAllKeys() map[string]data.RoleName {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]data.RoleName{}
	for id, r := range s.roles {
		out[id] = r
	}
	return out
}
