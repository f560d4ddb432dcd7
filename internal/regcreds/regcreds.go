// Package regcreds finds the credentials a notary server's token server
// asks for, the way docker does: a credential helper named in docker's
// config.json (credHelpers for the host, else credsStore), else the
// config's auths entry; a file named on the command line (mode 0600) comes
// first, and the terminal is asked last. Secrets are never read from the
// environment; DOCKER_CONFIG, a directory, is honoured as docker does.
package regcreds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/keyrite/keyrite/bundle"
)

// Resolver resolves credentials per host, once.
type Resolver struct {
	// File holds "USER:PASSWORD" on its first line (mode 0600). It wins
	// over docker's configuration.
	File string
	// DockerConfig is the directory of docker's config.json; empty:
	// $DOCKER_CONFIG, else ~/.docker.
	DockerConfig string
	// Prompt asks the terminal for a user name and password; nil or
	// failing: anonymous.
	Prompt func(host string) (user string, password []byte, err error)
	// Warn receives warnings (a file others can read).
	Warn io.Writer

	mu    sync.Mutex
	cache map[string]bundle.Credential
}

// FileError is an unusable credentials file.
type FileError struct {
	File   string
	Reason string
}

func (e *FileError) Error() string { return fmt.Sprintf("credentials file %s: %s", e.File, e.Reason) }

// Credential implements bundle.CredentialFunc.
func (r *Resolver) Credential(ctx context.Context, host string) (bundle.Credential, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.cache[host]; ok {
		return c, nil
	}
	c, err := r.resolve(ctx, host)
	if err != nil {
		return bundle.Credential{}, err
	}
	if r.cache == nil {
		r.cache = map[string]bundle.Credential{}
	}
	r.cache[host] = c
	return c, nil
}

func (r *Resolver) resolve(ctx context.Context, host string) (bundle.Credential, error) {
	if r.File != "" {
		return ReadFile(r.File, r.Warn)
	}
	path, err := r.configPath()
	if err != nil {
		return bundle.Credential{}, err
	}
	if _, err := os.Stat(path); err == nil {
		st, err := credentials.NewStore(path, credentials.StoreOptions{})
		if err != nil {
			return bundle.Credential{}, fmt.Errorf("docker config %s: %w", path, err)
		}
		c, err := st.Get(ctx, host)
		if err != nil {
			return bundle.Credential{}, fmt.Errorf("credentials for %s from docker config %s: %w", host, path, err)
		}
		if c != auth.EmptyCredential {
			return bundle.Credential{Username: c.Username, Password: c.Password, RefreshToken: c.RefreshToken,
				Source: source(st, path, host)}, nil
		}
	}
	if r.Prompt != nil {
		user, pass, err := r.Prompt(host)
		if err == nil && user != "" {
			c := bundle.Credential{Username: user, Password: string(pass), Source: "the terminal"}
			for i := range pass {
				pass[i] = 0
			}
			return c, nil
		}
	}
	return bundle.Credential{Source: "none: anonymous"}, nil
}

// source names where docker's configuration found the credential.
func source(st *credentials.DynamicStore, path, host string) string {
	raw, err := os.ReadFile(path)
	if err == nil {
		// The helper's name, as docker's config names it, for the message.
		var cfg struct {
			CredsStore  string            `json:"credsStore"`
			CredHelpers map[string]string `json:"credHelpers"`
		}
		if json.Unmarshal(raw, &cfg) == nil {
			if h := cfg.CredHelpers[host]; h != "" {
				return "docker-credential-" + h
			}
			if cfg.CredsStore != "" {
				return "docker-credential-" + cfg.CredsStore
			}
		}
	}
	return st.ConfigPath()
}

func (r *Resolver) configPath() (string, error) {
	dir := r.DockerConfig
	if dir == "" {
		dir = os.Getenv("DOCKER_CONFIG")
	}
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("finding docker's config.json: %w", err)
		}
		dir = filepath.Join(home, ".docker")
	}
	return filepath.Join(dir, "config.json"), nil
}

// ReadFile reads a credentials file: "USER:PASSWORD" on the first line.
// It refuses a file others can read or write: it holds a password.
func ReadFile(path string, warn io.Writer) (bundle.Credential, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return bundle.Credential{}, &FileError{File: path, Reason: err.Error()}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return bundle.Credential{}, err
	}
	if !st.Mode().IsRegular() {
		return bundle.Credential{}, &FileError{File: path, Reason: "not a regular file"}
	}
	if st.Mode().Perm()&0o077 != 0 {
		return bundle.Credential{}, &FileError{File: path, Reason: fmt.Sprintf("mode %04o lets others read it; chmod 600 it", st.Mode().Perm())}
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return bundle.Credential{}, err
	}
	defer func() {
		for i := range b {
			b[i] = 0
		}
	}()
	line, _, _ := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	user, pass, ok := strings.Cut(string(line), ":")
	if !ok || user == "" || pass == "" {
		return bundle.Credential{}, &FileError{File: path, Reason: "expected USER:PASSWORD on its first line"}
	}
	return bundle.Credential{Username: user, Password: pass, Source: path}, nil
}
