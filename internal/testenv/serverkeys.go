package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"filippo.io/edwards25519"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// ServerKeyVariant is a server key file a forger could put in a request
// bundle, and the reason keyrite gives for refusing it (empty for the keys
// notary-server serves, which are accepted).
type ServerKeyVariant struct {
	Name, Reason string
	File         []byte
}

// served is a key as notary-server's getKeyHandler writes it: json.Marshal
// of the public key.
func served(k data.PublicKey) []byte {
	b, _ := json.Marshal(k)
	return b
}

// ServerKeyVariants are the server key files a forger could put in a
// request bundle, each with the reason it is refused; the first two are
// the keys notary-server serves, which are accepted. Also used by the
// command line's bad-input corpus.
func ServerKeyVariants() ([]ServerKeyVariant, error) {
	ed, err := utils.GenerateED25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	ec, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	edPub, ecPub := data.PublicKeyFromPrivate(ed), data.PublicKeyFromPrivate(ec)
	raw := func(keytype string, pub []byte, extra string) []byte {
		return []byte(`{"keytype":"` + keytype + `","keyval":{"private":null,"public":"` + base64.StdEncoding.EncodeToString(pub) + `"}` + extra + `}`)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	cert, err := utils.NewCertificate("example.com/app", time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		return nil, err
	}
	cert.PublicKey = ec.CryptoSigner().Public()
	certDER, err := x509.CreateCertificate(rand.Reader, cert, cert, cert.PublicKey, ec.CryptoSigner())
	if err != nil {
		return nil, err
	}
	certPEM := utils.CertToPEM(&x509.Certificate{Raw: certDER})
	notOnCurve := append([]byte(nil), ecPub.Public()...)
	notOnCurve[len(notOnCurve)-1] ^= 1
	// The first y for which no x exists on the curve.
	notAPoint := make([]byte, 32)
	for y := byte(2); ; y++ {
		notAPoint[0] = y
		if _, err := new(edwards25519.Point).SetBytes(notAPoint); err != nil {
			break
		}
	}
	identity := make([]byte, 32)
	identity[0] = 1
	edAltered := append([]byte(nil), edPub.Public()...)
	edAltered[3] ^= 0x40
	return []ServerKeyVariant{
		{"ed25519 as served", "", served(edPub)},
		{"ecdsa P-256 as served", "", served(ecPub)},
		{"key ID that matches", "", raw("ed25519", edPub.Public(), `,"keyid":"`+edPub.ID()+`"`)},
		{"private key", "carries a private key", []byte(strings.Replace(string(served(edPub)), `"private":null`, `"private":"`+base64.StdEncoding.EncodeToString(ed.Private())+`"`, 1))},
		{"certificate", "is a certificate (ecdsa-x509)", raw("ecdsa-x509", certPEM, "")},
		{"rsa certificate", "is a certificate (rsa-x509)", raw("rsa-x509", certPEM, "")},
		{"rsa key", "is an RSA key", raw("rsa", rsaDER, "")},
		{"p-384 key", "is an ECDSA key on P-384", raw("ecdsa", p384DER, "")},
		{"ecdsa truncated", "is not an ECDSA public key", raw("ecdsa", ecPub.Public()[:40], "")},
		{"ecdsa point off the curve", "is not an ECDSA public key", raw("ecdsa", notOnCurve, "")},
		{"ecdsa claims ed25519 bytes", "is not an ECDSA public key", raw("ecdsa", edPub.Public(), "")},
		{"ed25519 truncated", "has 31 public bytes, an Ed25519 key has 32", raw("ed25519", edPub.Public()[:31], "")},
		{"ed25519 claims ecdsa bytes", "has 91 public bytes, an Ed25519 key has 32", raw("ed25519", ecPub.Public(), "")},
		{"ed25519 not a point", "not a point of the curve", raw("ed25519", notAPoint, "")},
		{"ed25519 small order", "of small order", raw("ed25519", identity, "")},
		{"empty public key", "has 0 public bytes", raw("ed25519", nil, "")},
		{"unknown key type", `has key type "ed448"`, raw("ed448", edPub.Public(), "")},
		{"no key type", "has no keytype", raw("", edPub.Public(), "")},
		{"key ID that does not match", "names key ID", raw("ed25519", edPub.Public(), `,"keyid":"`+ecPub.ID()+`"`)},
		{"duplicate keytype", `key "keytype" appears twice`, []byte(`{"keytype":"rsa",` + string(served(edPub))[1:])},
		{"unknown field", `unknown field "comment"`, raw("ed25519", edPub.Public(), `,"comment":"hi"`)},
		{"two values", "text after the JSON value", append(served(edPub), served(ecPub)...)},
		{"oversized", "more than the 16384 a key may hold", append(served(edPub), make([]byte, 16<<10)...)},
		{"not json", "is not a key as notary-server serves one", []byte("-----BEGIN PUBLIC KEY-----\n")},
		{"base64 garbage", "is not a key as notary-server serves one", []byte(`{"keytype":"ed25519","keyval":{"private":null,"public":"!!!"}}`)},
	}, nil
}
