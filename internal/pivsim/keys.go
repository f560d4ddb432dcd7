package pivsim

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"math/big"
)

func rsaBits(alg byte) int {
	switch alg {
	case AlgRSA1024:
		return 1024
	case AlgRSA2048:
		return 2048
	case AlgRSA3072:
		return 3072
	case AlgRSA4096:
		return 4096
	}
	return 0
}

func ecCurve(alg byte) elliptic.Curve {
	switch alg {
	case AlgP256:
		return elliptic.P256()
	case AlgP384:
		return elliptic.P384()
	}
	return nil
}

func newSlotKey(alg byte, priv any) (*slotKey, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	k := &slotKey{Alg: alg, PKCS8: der}
	return k, k.parse()
}

func generateKey(alg byte) (*slotKey, error) {
	var (
		priv any
		err  error
	)
	switch {
	case rsaBits(alg) != 0:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits(alg))
	case ecCurve(alg) != nil:
		priv, err = ecdsa.GenerateKey(ecCurve(alg), rand.Reader)
	case alg == AlgEd25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case alg == AlgX25519:
		priv, err = ecdh.X25519().GenerateKey(rand.Reader)
	default:
		return nil, apduError(swIncorrectData)
	}
	if err != nil {
		return nil, err
	}
	return newSlotKey(alg, priv)
}

func importKey(alg byte, ts []tlv) (*slotKey, error) {
	var priv any
	switch {
	case rsaBits(alg) != 0:
		var v [5]*big.Int
		for i := range v {
			b, ok := find(ts, uint32(0x01+i))
			if !ok {
				return nil, apduError(swIncorrectData)
			}
			v[i] = new(big.Int).SetBytes(b)
		}
		p, q := v[0], v[1]
		n := new(big.Int).Mul(p, q)
		if n.BitLen() != rsaBits(alg) {
			return nil, apduError(swIncorrectData)
		}
		e := big.NewInt(65537)
		one := big.NewInt(1)
		phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
		d := new(big.Int).ModInverse(e, phi)
		if d == nil {
			return nil, apduError(swIncorrectData)
		}
		k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: 65537}, D: d, Primes: []*big.Int{p, q}}
		if err := k.Validate(); err != nil {
			return nil, apduError(swIncorrectData)
		}
		k.Precompute()
		priv = k
	case ecCurve(alg) != nil:
		d, ok := find(ts, 0x06)
		if !ok {
			return nil, apduError(swIncorrectData)
		}
		k, err := ecdsa.ParseRawPrivateKey(ecCurve(alg), d)
		if err != nil {
			return nil, apduError(swIncorrectData)
		}
		priv = k
	case alg == AlgEd25519:
		seed, ok := find(ts, 0x07)
		if !ok || len(seed) != ed25519.SeedSize {
			return nil, apduError(swIncorrectData)
		}
		priv = ed25519.NewKeyFromSeed(seed)
	case alg == AlgX25519:
		b, ok := find(ts, 0x08)
		if !ok {
			return nil, apduError(swIncorrectData)
		}
		k, err := ecdh.X25519().NewPrivateKey(b)
		if err != nil {
			return nil, apduError(swIncorrectData)
		}
		priv = k
	default:
		return nil, apduError(swIncorrectData)
	}
	return newSlotKey(alg, priv)
}

// publicOf returns a slot key's public key.
func publicOf(k *slotKey) crypto.PublicKey {
	if x, ok := k.x.(*ecdh.PrivateKey); ok {
		return x.PublicKey()
	}
	return k.priv.Public()
}

// encodePublic encodes a public key as the inside of tag 7F49.
func encodePublic(k *slotKey) []byte {
	switch p := publicOf(k).(type) {
	case *rsa.PublicKey:
		return cat(enc(0x81, p.N.Bytes()), enc(0x82, big.NewInt(int64(p.E)).Bytes()))
	case *ecdsa.PublicKey:
		b, err := p.Bytes()
		if err != nil {
			panic(err)
		}
		return enc(0x86, b)
	case ed25519.PublicKey:
		return enc(0x86, p)
	case *ecdh.PublicKey:
		return enc(0x86, p.Bytes())
	}
	panic("pivsim: unknown key type")
}

func privateSign(k *slotKey, in []byte) ([]byte, error) {
	switch p := k.x.(type) {
	case *ecdsa.PrivateKey:
		size := (p.Curve.Params().BitSize + 7) / 8
		if len(in) > size {
			return nil, apduError(swIncorrectData)
		}
		return ecdsa.SignASN1(rand.Reader, p, in)
	case ed25519.PrivateKey:
		return ed25519.Sign(p, in), nil
	case *rsa.PrivateKey:
		size := p.Size()
		if len(in) != size {
			return nil, apduError(swIncorrectData)
		}
		m := new(big.Int).SetBytes(in)
		if m.Cmp(p.N) >= 0 {
			return nil, apduError(swIncorrectData)
		}
		out := make([]byte, size)
		return new(big.Int).Exp(m, p.D, p.N).FillBytes(out), nil
	}
	return nil, apduError(swIncorrectData)
}

func privateECDH(k *slotKey, peer []byte) ([]byte, error) {
	var (
		priv *ecdh.PrivateKey
		err  error
	)
	switch p := k.x.(type) {
	case *ecdsa.PrivateKey:
		priv, err = p.ECDH()
	case *ecdh.PrivateKey:
		priv = p
	default:
		return nil, apduError(swIncorrectData)
	}
	if err != nil {
		return nil, err
	}
	pub, err := priv.Curve().NewPublicKey(peer)
	if err != nil {
		return nil, apduError(swIncorrectData)
	}
	out, err := priv.ECDH(pub)
	if err != nil {
		return nil, apduError(swIncorrectData)
	}
	return out, nil
}
