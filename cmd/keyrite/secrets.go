package main

import (
	"context"
	"fmt"
	"strings"

	"filippo.io/age/plugin"
	"github.com/spf13/cobra"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/internal/term"
	"github.com/keyrite/keyrite/recovery"
)

// passphraseFiles is --passphrase-file, repeated: NAME=FILE for one
// custodian's share, or FILE for every passphrase share.
type passphraseFiles struct {
	byName map[string]string
	all    string
}

func parsePassphraseFiles(c *cobra.Command, specs []string) (*passphraseFiles, error) {
	p := &passphraseFiles{byName: map[string]string{}}
	for _, s := range specs {
		name, file, ok := strings.Cut(s, "=")
		if !ok {
			if p.all != "" {
				return nil, usagef(c, "--passphrase-file: only one FILE without NAME= may be given")
			}
			p.all = s
			continue
		}
		if err := backup.ValidName(name); err != nil {
			return nil, usagef(c, "--passphrase-file %s: %v", s, err)
		}
		if file == "" {
			return nil, usagef(c, "--passphrase-file %s: no file", s)
		}
		p.byName[name] = file
	}
	return p, nil
}

func (p *passphraseFiles) file(custodian string) string {
	if f, ok := p.byName[custodian]; ok {
		return f
	}
	return p.all
}

// newPassphrase asks a passphrase custodian's new passphrase: from its
// file, or twice on the terminal.
func (a *App) newPassphrase(ctx context.Context, p *passphraseFiles) func(c backup.Custodian) ([]byte, error) {
	return func(c backup.Custodian) ([]byte, error) {
		if f := p.file(c.Name); f != "" {
			return term.ReadSecretFile(f)
		}
		src := &term.PINSource{}
		return src.PIN(ctx, term.Request{Device: fmt.Sprintf("custodian %s's share (new)", c.Name), Kind: "passphrase", Confirm: true})
	}
}

// sharePassphrase asks the passphrase of a passphrase-encrypted share.
func (a *App) sharePassphrase(ctx context.Context, p *passphraseFiles) func(f *backup.ShareFile) ([]byte, error) {
	return func(f *backup.ShareFile) ([]byte, error) {
		name := ""
		if f.Header != nil {
			name = f.Header.Custodian
		}
		if file := p.file(name); file != "" {
			return term.ReadSecretFile(file)
		}
		src := &term.PINSource{}
		return src.PIN(ctx, term.Request{Device: "share " + f.Describe(), Kind: "passphrase"})
	}
}

// pluginUI lets age plugins talk to the operator on the terminal.
func (a *App) pluginUI() *plugin.ClientUI {
	return &plugin.ClientUI{
		DisplayMessage: func(name, msg string) error {
			fmt.Fprintf(a.Stderr, "keyrite: age-plugin-%s: %s\n", name, msg)
			return nil
		},
		RequestValue: func(name, prompt string, secret bool) (string, error) {
			v, err := term.Ask(fmt.Sprintf("age-plugin-%s: %s", name, prompt), secret)
			return string(v), err
		},
		Confirm: func(name, prompt, yes, no string) (bool, error) {
			choices := yes
			if no != "" {
				choices += "/" + no
			}
			v, err := term.Ask(fmt.Sprintf("age-plugin-%s: %s [%s]", name, prompt, choices), false)
			return strings.EqualFold(strings.TrimSpace(string(v)), yes), err
		},
		WaitTimer: func(name string) {
			fmt.Fprintf(a.Stderr, "keyrite: waiting for age-plugin-%s (touch the device if it blinks)\n", name)
		},
	}
}

// shareFlags are the flags of every command that opens shares.
type shareFlags struct {
	identities  []string
	plugins     []string
	passphrases []string
}

func (s *shareFlags) add(c *cobra.Command) {
	c.Flags().StringArrayVarP(&s.identities, "identity", "i", nil, "age identity file of a custodian (X25519, post-quantum, SSH or plugin); repeat for each")
	c.Flags().StringArrayVarP(&s.plugins, "plugin", "j", nil, "age plugin to decrypt with, without an identity file (like age -j NAME)")
	c.Flags().StringArrayVar(&s.passphrases, "passphrase-file", nil, "passphrase of passphrase-encrypted shares: NAME=FILE per custodian, or FILE (mode 0600); default: ask on the terminal")
}

func (s *shareFlags) inputs(a *App, c *cobra.Command, shares []string) (recovery.ShareInputs, error) {
	p, err := parsePassphraseFiles(c, s.passphrases)
	if err != nil {
		return recovery.ShareInputs{}, err
	}
	for _, name := range s.plugins {
		if plugin.EncodeIdentity(name, nil) == "" {
			return recovery.ShareInputs{}, usagef(c, "--plugin %q: not a plugin name", name)
		}
	}
	ctx := c.Context()
	return recovery.ShareInputs{Shares: shares, Identities: s.identities, Plugins: s.plugins,
		Passphrase: a.sharePassphrase(ctx, p), PluginUI: a.pluginUI(),
		SSHPassphrase: func(file string) ([]byte, error) {
			src := &term.PINSource{}
			return src.PIN(ctx, term.Request{Device: "SSH key " + file, Kind: "passphrase"})
		}}, nil
}

// printWords prints a key ID's words, eight per line.
func (a *App) printWords(keyID string) {
	lines, err := backup.WordLines(keyID, 8)
	if err != nil {
		return
	}
	for i, l := range lines {
		label := "           "
		if i == 0 {
			label = "  words:   "
		}
		fmt.Fprintf(a.Stdout, "%s%s\n", label, l)
	}
}
