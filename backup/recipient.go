package backup

import (
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/plugin"
)

// Recipient kinds, as recorded in backup.json and reported to the operator.
const (
	KindX25519     = "x25519"         // age1...
	KindHybrid     = "mlkem768x25519" // age1pq1... (post-quantum hybrid, age v1.3)
	KindSSHEd25519 = "ssh-ed25519"
	KindSSHRSA     = "ssh-rsa"
	KindPassphrase = "passphrase" // scrypt
	KindPlugin     = "plugin"     // age1NAME1... or plugin:NAME, through age-plugin-NAME
)

// Custodian is one holder of a share and the age recipient it is
// encrypted to.
type Custodian struct {
	Name      string
	Recipient string // as given: age1..., age1pq1..., ssh-..., "passphrase", "plugin:NAME"
	Kind      string
	Plugin    string // plugin name, for KindPlugin
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidName checks a custodian name: it becomes a file name.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid custodian name %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// ParseCustodian parses NAME=RECIPIENT, where RECIPIENT is an age X25519
// (age1...) or hybrid (age1pq1...) recipient, an SSH public key
// (ssh-ed25519 ..., ssh-rsa ...), a plugin recipient (age1NAME1...), the
// word "passphrase", or plugin:NAME for a plugin used without a recipient
// (like age -j NAME).
func ParseCustodian(spec string) (Custodian, error) {
	name, rcpt, ok := strings.Cut(spec, "=")
	if !ok {
		return Custodian{}, fmt.Errorf("custodian %q: expected NAME=RECIPIENT (e.g. alice=age1...)", spec)
	}
	if err := ValidName(name); err != nil {
		return Custodian{}, err
	}
	rcpt = strings.TrimSpace(rcpt)
	c := Custodian{Name: name, Recipient: rcpt}
	switch {
	case rcpt == "passphrase":
		c.Kind = KindPassphrase
	case strings.HasPrefix(rcpt, "plugin:"):
		c.Kind, c.Plugin = KindPlugin, strings.TrimPrefix(rcpt, "plugin:")
		if plugin.EncodeIdentity(c.Plugin, nil) == "" {
			return Custodian{}, fmt.Errorf("custodian %s: invalid plugin name %q", name, c.Plugin)
		}
	case strings.HasPrefix(rcpt, "age1pq1"):
		if _, err := age.ParseHybridRecipient(rcpt); err != nil {
			return Custodian{}, fmt.Errorf("custodian %s: invalid post-quantum recipient: %v", name, err)
		}
		c.Kind = KindHybrid
	case strings.HasPrefix(rcpt, "age1"):
		if _, err := age.ParseX25519Recipient(rcpt); err == nil {
			c.Kind = KindX25519
			break
		}
		p, _, err := plugin.ParseRecipient(rcpt)
		if err != nil {
			return Custodian{}, fmt.Errorf("custodian %s: %q is neither an X25519 nor a plugin recipient", name, rcpt)
		}
		c.Kind, c.Plugin = KindPlugin, p
	case strings.HasPrefix(rcpt, "ssh-ed25519 "), strings.HasPrefix(rcpt, "ssh-rsa "):
		r, err := agessh.ParseRecipient(rcpt)
		if err != nil {
			return Custodian{}, fmt.Errorf("custodian %s: invalid SSH recipient: %v", name, err)
		}
		c.Kind = KindSSHEd25519
		if _, ok := r.(*agessh.RSARecipient); ok {
			c.Kind = KindSSHRSA
		}
	case strings.HasPrefix(rcpt, "AGE-SECRET-KEY-"), strings.HasPrefix(rcpt, "AGE-PLUGIN-"):
		// Never echo it: it is a private key.
		return Custodian{}, fmt.Errorf("custodian %s: that is a private key (identity), not a recipient: give the public recipient (age-keygen -y)", name)
	default:
		return Custodian{}, fmt.Errorf("custodian %s: unknown recipient type (expected age1..., age1pq1..., ssh-ed25519, ssh-rsa, age1PLUGIN1..., plugin:NAME or passphrase)", name)
	}
	return c, nil
}

// PluginBinary is the program a plugin recipient needs.
func (c Custodian) PluginBinary() string { return "age-plugin-" + c.Plugin }

// CheckPlugin reports a missing plugin binary before anything is created.
func (c Custodian) CheckPlugin() error {
	if c.Kind != KindPlugin {
		return nil
	}
	if _, err := exec.LookPath(c.PluginBinary()); err != nil {
		return &PluginMissingError{Custodian: c.Name, Plugin: c.Plugin}
	}
	return nil
}

// PluginMissingError is a plugin recipient whose age-plugin-NAME binary is
// not installed.
type PluginMissingError struct{ Custodian, Plugin string }

func (e *PluginMissingError) Error() string {
	who := ""
	if e.Custodian != "" {
		who = "custodian " + e.Custodian + ": "
	}
	return fmt.Sprintf("%sage-plugin-%s is not installed (not found in PATH)", who, e.Plugin)
}

// recipient builds the age recipient. pass is the passphrase of a
// passphrase custodian.
func (c Custodian) recipient(pass []byte, workFactor int, ui *plugin.ClientUI) (age.Recipient, error) {
	switch c.Kind {
	case KindPassphrase:
		if len(pass) == 0 {
			return nil, fmt.Errorf("custodian %s: empty passphrase", c.Name)
		}
		// age takes the passphrase as a string: a copy keyrite cannot wipe.
		r, err := age.NewScryptRecipient(string(pass))
		if err != nil {
			return nil, err
		}
		if workFactor > 0 {
			r.SetWorkFactor(workFactor)
		}
		return r, nil
	case KindX25519:
		return age.ParseX25519Recipient(c.Recipient)
	case KindHybrid:
		return age.ParseHybridRecipient(c.Recipient)
	case KindSSHEd25519, KindSSHRSA:
		return agessh.ParseRecipient(c.Recipient)
	case KindPlugin:
		if err := c.CheckPlugin(); err != nil {
			return nil, err
		}
		ui = orNoUI(ui)
		if strings.HasPrefix(c.Recipient, "plugin:") {
			id, err := plugin.NewIdentityWithoutData(c.Plugin, ui)
			if err != nil {
				return nil, err
			}
			return id.Recipient(), nil
		}
		return plugin.NewRecipient(c.Recipient, ui)
	}
	return nil, errors.New("unknown recipient kind " + c.Kind)
}

// recorder wraps a recipient and keeps what it produced: the stanzas and
// the file key. Check later proves that the file on disk carries exactly
// these stanzas (so it is encrypted to this recipient and nobody else) and
// decrypts with this file key.
type recorder struct {
	r       age.Recipient
	stanzas []*age.Stanza
	fileKey []byte
}

func (w *recorder) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	s, _, err := w.WrapWithLabels(fileKey)
	return s, err
}

func (w *recorder) WrapWithLabels(fileKey []byte) ([]*age.Stanza, []string, error) {
	var (
		s   []*age.Stanza
		l   []string
		err error
	)
	if rl, ok := w.r.(age.RecipientWithLabels); ok {
		s, l, err = rl.WrapWithLabels(fileKey)
	} else {
		s, err = w.r.Wrap(fileKey)
	}
	if err != nil {
		return nil, nil, err
	}
	w.fileKey = append([]byte(nil), fileKey...)
	w.stanzas = cloneStanzas(s)
	return s, l, nil
}

func cloneStanzas(in []*age.Stanza) []*age.Stanza {
	out := make([]*age.Stanza, len(in))
	for i, s := range in {
		out[i] = &age.Stanza{Type: s.Type, Args: append([]string(nil), s.Args...), Body: append([]byte(nil), s.Body...)}
	}
	return out
}

// expected is an identity that opens only a file whose header holds exactly
// the recorded stanzas.
type expected struct {
	stanzas []*age.Stanza
	fileKey []byte
}

var errNotIntended = errors.New("the file is not encrypted to the intended recipient (its header differs from what the recipient produced)")

func (e *expected) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	if len(stanzas) != len(e.stanzas) {
		return nil, errNotIntended
	}
	for i, s := range stanzas {
		w := e.stanzas[i]
		if s.Type != w.Type || strings.Join(s.Args, " ") != strings.Join(w.Args, " ") || string(s.Body) != string(w.Body) {
			return nil, errNotIntended
		}
	}
	return append([]byte(nil), e.fileKey...), nil
}

// stanzaTypes is an identity that never matches and remembers the header's
// stanza types, to learn how a share is encrypted before asking anyone.
type stanzaTypes struct{ types []string }

func (s *stanzaTypes) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, st := range stanzas {
		s.types = append(s.types, st.Type)
	}
	return nil, age.ErrIncorrectIdentity
}

// orNoUI returns ui, or a UI that answers every plugin request with a
// failure (the plugin package needs a non-nil one).
func orNoUI(ui *plugin.ClientUI) *plugin.ClientUI {
	if ui == nil {
		return &plugin.ClientUI{}
	}
	return ui
}
