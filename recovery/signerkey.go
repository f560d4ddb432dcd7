package recovery

import (
	"crypto"
	"crypto/ecdsa"
	"encoding/pem"
	"fmt"

	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/theupdateframework/notary/tuf/utils"
)

// MaxSignerKeyFileSize bounds a signer's private key file: a PEM key of a
// few hundred bytes, with notary's headers.
const MaxSignerKeyFileSize = 64 << 10

// SignerKeyFile is a docker signer's private key in a PEM file, as docker
// trust key generate writes it (encrypted PKCS#8 with a "role" header,
// under ~/.docker/trust/private/). The file is a secret: only its owner
// may read it. Passphrase is asked only when the key is encrypted; nil
// refuses an encrypted key.
type SignerKeyFile struct {
	Path       string
	Passphrase func(path string) ([]byte, error)
}

// SignerKeyError is a signer key file keyrite cannot use.
type SignerKeyError struct {
	Path   string
	Reason string
}

func (e *SignerKeyError) Error() string { return fmt.Sprintf("signer key %s: %s", e.Path, e.Reason) }

// Open reads the key. The signer it returns holds the private key in
// memory for this run only; keyrite never writes it anywhere.
func (f SignerKeyFile) Open() (crypto.Signer, error) {
	b, err := fsutil.ReadPrivate(f.Path, "signer private key", MaxSignerKeyFileSize)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, &SignerKeyError{Path: f.Path, Reason: "not a PEM private key (docker trust key generate keeps it in ~/.docker/trust/private/KEYID.key)"}
	}
	var pass []byte
	if block.Type == "ENCRYPTED PRIVATE KEY" {
		if f.Passphrase == nil {
			return nil, &SignerKeyError{Path: f.Path, Reason: "is encrypted and no passphrase can be asked"}
		}
		if pass, err = f.Passphrase(f.Path); err != nil {
			return nil, err
		}
		defer clear(pass)
	}
	k, err := utils.ParsePEMPrivateKey(b, string(pass))
	if err != nil {
		return nil, &SignerKeyError{Path: f.Path, Reason: "cannot be read (wrong passphrase, or not a notary/docker key): " + err.Error()}
	}
	s, ok := k.CryptoSigner().(*ecdsa.PrivateKey)
	if !ok {
		return nil, &SignerKeyError{Path: f.Path, Reason: fmt.Sprintf("is a %s key: keyrite signs delegations with ECDSA keys (docker trust key generate makes one)", k.Algorithm())}
	}
	return s, nil
}
