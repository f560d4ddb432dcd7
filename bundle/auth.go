package bundle

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Credential is what a token server is given to issue a token: a user name
// and password, or a refresh (identity) token as docker login stores for
// OAuth2 registries. Source says where it came from, for messages; it never
// holds the secret.
type Credential struct {
	Username     string
	Password     string
	RefreshToken string
	Source       string
}

// CredentialFunc resolves the credential for a server's host[:port]. It is
// called only when the server asks for a token, once per host. An empty
// Credential asks for an anonymous token.
type CredentialFunc func(ctx context.Context, host string) (Credential, error)

// Access is what an operation needs on each repository: the actions of the
// registry token protocol's "repository:GUN:ACTIONS" scope.
type Access []string

// Access levels of the operations. Fetching asks for the server's
// timestamp and snapshot keys, which notary-server gives only to clients
// with push access (while a GUN has no root, each key request makes it
// generate a key).
var (
	AccessPull     = Access{"pull"}
	AccessPushPull = Access{"push", "pull"}
)

// AuthError is a server or its token server refusing access.
type AuthError struct {
	Server string
	GUN    string   // empty for the server as a whole
	Realm  string   // the token server, when it refused the credential
	User   string   // the user name presented, empty if anonymous
	Source string   // where the credential came from
	Access []string // the actions asked for
	Status int      // the HTTP status of the refusal
	Err    error
}

func (e *AuthError) Error() string {
	who := "anonymously"
	if e.User != "" {
		who = fmt.Sprintf("as %q", e.User)
		if e.Source != "" {
			who += " (credentials from " + e.Source + ")"
		}
	}
	what := e.Server
	if e.GUN != "" {
		what = fmt.Sprintf("%s on %s", strings.Join(e.Access, ","), e.GUN)
	}
	if e.Realm != "" {
		return fmt.Sprintf("the token server %s refused a token for %s %s: HTTP %d", e.Realm, what, who, e.Status)
	}
	return fmt.Sprintf("%s refused access (%s) %s: HTTP %d: the token does not grant it", e.Server, what, who, e.Status)
}

func (e *AuthError) Unwrap() error { return e.Err }

// authTransport follows the registry token protocol (RFC 6750 Bearer
// challenges, tokens from the realm with the request's scope) through
// oras-go's auth client, adding the operation's repository scope to every
// request under /v2/GUN/_trust/.
type authTransport struct {
	server string
	client *auth.Client
	access Access

	mu   sync.Mutex
	used map[string]Credential // host -> the credential the function gave
}

func newAuthTransport(server string, base *http.Client, creds CredentialFunc, access Access) *authTransport {
	t := &authTransport{server: server, access: access, used: map[string]Credential{}}
	t.client = &auth.Client{
		Client: base,
		Cache:  auth.NewCache(),
		Header: http.Header{"User-Agent": {"keyrite"}},
		Credential: func(ctx context.Context, host string) (auth.Credential, error) {
			if creds == nil {
				return auth.EmptyCredential, nil
			}
			c, err := creds(ctx, host)
			if err != nil {
				return auth.EmptyCredential, err
			}
			t.mu.Lock()
			t.used[host] = c
			t.mu.Unlock()
			return auth.Credential{Username: c.Username, Password: c.Password, RefreshToken: c.RefreshToken}, nil
		},
	}
	return t
}

// gunOf reads the GUN from a notary API path: /v2/GUN/_trust/...
func gunOf(p string) string {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return ""
	}
	gun, _, ok := strings.Cut(rest, "/_trust/")
	if !ok {
		return ""
	}
	return gun
}

// RoundTrip implements http.RoundTripper.
func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	gun := gunOf(req.URL.Path)
	ctx := req.Context()
	if gun != "" {
		ctx = auth.AppendScopesForHost(ctx, req.URL.Host, auth.ScopeRepository(gun, slices.Clone(t.access)...))
	}
	resp, err := t.client.Do(req.WithContext(ctx))
	if err != nil {
		var er *errcode.ErrorResponse
		if errors.As(err, &er) && (er.StatusCode == http.StatusUnauthorized || er.StatusCode == http.StatusForbidden) {
			c := t.credential(req.URL.Host)
			realm := ""
			if er.URL != nil {
				u := *er.URL
				u.RawQuery = ""
				realm = u.String()
			}
			return nil, &AuthError{Server: t.server, GUN: gun, Realm: realm, User: c.Username, Source: c.Source, Access: t.access, Status: er.StatusCode, Err: err}
		}
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		c := t.credential(req.URL.Host)
		resp.Body.Close()
		return nil, &AuthError{Server: t.server, GUN: gun, User: c.Username, Source: c.Source, Access: t.access, Status: resp.StatusCode}
	}
	return resp, nil
}

func (t *authTransport) credential(host string) Credential {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.used[host]
}

// ping checks that the server answers as a registry-style API: 200, or
// 401 with a Bearer challenge (it wants a token), on GET /v2/.
func ping(ctx context.Context, base *http.Client, server string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := base.Do(req)
	if err != nil {
		return fmt.Errorf("contacting %s: %w", server, err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusUnauthorized && strings.HasPrefix(strings.ToLower(resp.Header.Get("Www-Authenticate")), "bearer "):
		return nil
	}
	return fmt.Errorf("GET /v2/: server answered %s", resp.Status)
}

// hostOf is the host[:port] of a server URL: the key docker's config.json
// and credential helpers use.
func hostOf(server string) string {
	u, err := url.Parse(server)
	if err != nil {
		return server
	}
	return u.Host
}
