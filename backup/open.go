package backup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"filippo.io/age/plugin"
	"golang.org/x/crypto/ssh"

	"github.com/keyrite/keyrite/hsm"
)

// maxPayload bounds a decrypted share: a few hundred bytes in practice.
const maxPayload = 64 << 10

// IdentityError is a share none of the presented identities decrypts.
type IdentityError struct {
	File   string
	Kinds  []string // stanza types of the share's header, e.g. X25519
	Reason string
	Err    error
}

func (e *IdentityError) Error() string {
	msg := fmt.Sprintf("share %s: %s", e.File, e.Reason)
	if len(e.Kinds) > 0 {
		msg += fmt.Sprintf(" (it is encrypted to a %s recipient)", strings.Join(e.Kinds, ", "))
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *IdentityError) Unwrap() error { return e.Err }

// Opener decrypts shares with the identities custodians present.
type Opener struct {
	Identities []age.Identity
	// Passphrase returns the passphrase of a passphrase-encrypted share.
	Passphrase func(f *ShareFile) ([]byte, error)
	// MaxWorkFactor is the most scrypt work factor (log2 N) a passphrase
	// share may demand; 0 means DefaultMaxWorkFactor.
	MaxWorkFactor int
}

// DefaultMaxWorkFactor is the scrypt work factor age gives new files, and
// so keyrite's shares: 2^18 takes 256 MiB and a second. age itself
// accepts up to 22 (4 GiB and a minute or more), which a doctored share
// would demand of whoever opens it.
const DefaultMaxWorkFactor = 18

// StanzaTypes lists how a share is encrypted (X25519, mlkem768x25519,
// ssh-ed25519, scrypt, or a plugin's stanza type) without decrypting it.
func (f *ShareFile) StanzaTypes() ([]string, error) {
	hdr, err := age.ExtractHeader(armor.NewReader(bytes.NewReader(f.Armored)))
	if err != nil {
		return nil, &ShareError{File: f.Name, Reason: "damaged: not a readable age file", Err: err}
	}
	st := &stanzaTypes{}
	age.DecryptHeader(hdr, st)
	return st.types, nil
}

// Open decrypts a share file.
func (o *Opener) Open(f *ShareFile) (*Share, error) {
	types, err := f.StanzaTypes()
	if err != nil {
		return nil, err
	}
	ids := o.Identities
	if len(types) == 1 && types[0] == "scrypt" {
		// age-plugin-batchpass makes scrypt stanzas too: a plugin given
		// gets the first try, then the passphrase is asked.
		for _, id := range ids {
			if _, ok := id.(*plugin.Identity); ok {
				if s, err := f.open(multi(ids), types); err == nil || !isIdentity(err) || o.Passphrase == nil {
					return s, err
				}
				break
			}
		}
		return o.openPassphrase(f, types)
	}
	if len(ids) == 0 {
		return nil, &IdentityError{File: f.Describe(), Kinds: types, Reason: "no identity given to decrypt it"}
	}
	return f.open(multi(ids), types)
}

func isIdentity(err error) bool {
	var ie *IdentityError
	return errors.As(err, &ie)
}

func (o *Opener) openPassphrase(f *ShareFile, types []string) (*Share, error) {
	if o.Passphrase == nil {
		return nil, &IdentityError{File: f.Describe(), Reason: "is passphrase-encrypted and no passphrase was given"}
	}
	pass, err := o.Passphrase(f)
	if err != nil {
		return nil, fmt.Errorf("share %s: %w", f.Describe(), err)
	}
	id, err := age.NewScryptIdentity(string(pass))
	hsm.Wipe(pass)
	if err != nil {
		return nil, err
	}
	max := o.MaxWorkFactor
	if max <= 0 {
		max = DefaultMaxWorkFactor
	}
	id.SetMaxWorkFactor(max)
	s, err := f.open(id, types)
	var ie *IdentityError
	if errors.As(err, &ie) {
		ie.Reason = "wrong passphrase"
		ie.Kinds = nil
	}
	return s, err
}

// multi tries identities in turn, like age.Decrypt does with several.
type multi []age.Identity

func (m multi) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	var errs []error
	for _, id := range m {
		k, err := id.Unwrap(stanzas)
		if err == nil {
			return k, nil
		}
		if !errors.Is(err, age.ErrIncorrectIdentity) {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("%w", age.ErrIncorrectIdentity)
}

// open decrypts with one identity and checks the payload against the
// header.
func (f *ShareFile) open(id age.Identity, types []string) (*Share, error) {
	r, err := age.Decrypt(armor.NewReader(bytes.NewReader(f.Armored)), id)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) || errors.Is(err, age.ErrIncorrectIdentity) {
			return nil, &IdentityError{File: f.Describe(), Kinds: types, Reason: "none of the identities given decrypts it"}
		}
		if errors.Is(err, errNotIntended) {
			return nil, &ShareError{File: f.Name, Reason: "not encrypted to the intended recipient", Err: err}
		}
		var pm *plugin.NotFoundError
		if errors.As(err, &pm) {
			return nil, &PluginMissingError{Plugin: pm.Name}
		}
		return nil, &ShareError{File: f.Name, Reason: "damaged or altered (age refuses it)", Err: err}
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxPayload))
	defer hsm.Wipe(plain)
	if err != nil {
		return nil, &ShareError{File: f.Name, Reason: "damaged or altered (age refuses it)", Err: err}
	}
	p, err := parsePayload(plain)
	if err != nil {
		return nil, &ShareError{File: f.Name, Reason: "not a keyrite share", Err: err}
	}
	if err := f.checkHeader(p); err != nil {
		hsm.Wipe(p.Y)
		return nil, err
	}
	return &Share{File: f.Name, p: p}, nil
}

// ParseIdentities reads an identity file as the age CLI does: native
// identities (AGE-SECRET-KEY-1..., AGE-SECRET-KEY-PQ-1...), plugin
// identities (AGE-PLUGIN-NAME-1...), one per line, or an SSH private key
// (ed25519 or RSA; an encrypted one asks sshPassphrase when it is used).
func ParseIdentities(name string, data []byte, ui *plugin.ClientUI, sshPassphrase func() ([]byte, error)) ([]age.Identity, error) {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		id, err := agessh.ParseIdentity(data)
		if err == nil {
			return []age.Identity{id}, nil
		}
		var missing *ssh.PassphraseMissingError
		if !errors.As(err, &missing) {
			return nil, fmt.Errorf("identity file %s: not a usable SSH private key: %v", name, err)
		}
		if missing.PublicKey == nil {
			return nil, fmt.Errorf("identity file %s: an encrypted SSH key without its public key; convert it with ssh-keygen -p", name)
		}
		if sshPassphrase == nil {
			return nil, fmt.Errorf("identity file %s: the SSH key is encrypted and no passphrase can be asked", name)
		}
		id2, err := agessh.NewEncryptedSSHIdentity(missing.PublicKey, data, sshPassphrase)
		if err != nil {
			return nil, fmt.Errorf("identity file %s: %v", name, err)
		}
		return []age.Identity{id2}, nil
	}
	var ids []age.Identity
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		switch {
		case strings.HasPrefix(line, "AGE-PLUGIN-"):
			id, err := plugin.NewIdentity(line, orNoUI(ui))
			if err != nil {
				return nil, fmt.Errorf("identity file %s, line %d: invalid plugin identity", name, n)
			}
			ids = append(ids, id)
		case strings.HasPrefix(line, "AGE-SECRET-KEY-"):
			parsed, err := age.ParseIdentities(strings.NewReader(line))
			if err != nil {
				// age's message never includes the key itself.
				return nil, fmt.Errorf("identity file %s, line %d: %v", name, n, err)
			}
			ids = append(ids, parsed...)
		case strings.HasPrefix(line, "age1"), strings.HasPrefix(line, "ssh-"):
			return nil, fmt.Errorf("identity file %s, line %d: that is a recipient (public key); the custodian's identity (private key) is needed", name, n)
		default:
			return nil, fmt.Errorf("identity file %s, line %d: unknown identity type", name, n)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("identity file %s: no identities found", name)
	}
	return ids, nil
}

// PluginIdentity is a plugin used without an identity file, like age -j
// NAME.
func PluginIdentity(name string, ui *plugin.ClientUI) (age.Identity, error) {
	if err := (Custodian{Kind: KindPlugin, Plugin: name}).CheckPlugin(); err != nil {
		return nil, err
	}
	return plugin.NewIdentityWithoutData(name, orNoUI(ui))
}
