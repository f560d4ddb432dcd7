package session

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/trust"
	"github.com/keyrite/keyrite/trust/store"
	"github.com/theupdateframework/notary/tuf/data"
)

// How a GUN's current root came to be trusted, as the transcript records it.
const (
	TrustedByPin          = "pinned"
	TrustedFirstUseTyped  = "first use, key IDs typed by the operator"
	TrustedFirstUseListed = "first use, key IDs given on the command line"
)

// Trusted is the current root of an existing GUN, established from what
// this machine already trusts.
type Trusted struct {
	GUN           string           `json:"gun"`
	How           string           `json:"how"`
	PinnedVersion int              `json:"pinned_version,omitempty"`
	Version       int              `json:"current_version"`
	Root          *data.SignedRoot `json:"-"`
	raw           []byte
	chain         [][]byte // the versions between the pin and raw
}

// NotTrustedError is a GUN this machine has no pin for, and that the
// operator did not vouch for.
type NotTrustedError struct {
	GUN    string
	KeyIDs []string // the current root's key IDs, to compare with a record
	Reason string
}

func (e *NotTrustedError) Error() string {
	return fmt.Sprintf("%s: this machine has no trusted root for it (%s); the request bundle's root keys are %s",
		e.GUN, e.Reason, strings.Join(e.KeyIDs, ", "))
}

// HiddenRepoError is a request bundle that calls a repository new while
// this machine trusts a root for it.
type HiddenRepoError struct {
	GUN     string
	Version int
}

func (e *HiddenRepoError) Error() string {
	return fmt.Sprintf("%s: the request bundle says the server has no such repository, but this machine trusts its root version %d", e.GUN, e.Version)
}

// ServerKeyMismatchError is a request bundle whose server key for a role
// is not the one the trusted root names.
type ServerKeyMismatchError struct {
	GUN, Role      string
	Trusted, Given string
}

func (e *ServerKeyMismatchError) Error() string {
	return fmt.Sprintf("%s: the request bundle's %s key %s is not the key %s that the trusted root names", e.GUN, e.Role,
		trust.ShortID(e.Given), trust.ShortID(e.Trusted))
}

// TrustCurrent establishes the current root of an existing GUN from the
// request bundle: by walking the root chain from this machine's pin, or,
// with no pin, by the operator vouching for its root key IDs (given in
// Env.TOFU, or typed back after they are shown). The server's timestamp
// key in the request must be the one that root names.
func (s *Session) TrustCurrent(req *bundle.Request, gun string) (*Trusted, error) {
	current := req.Metadata(gun, data.CanonicalRootRole)
	var pin *store.Pin
	var pinned []byte
	if s.Trust != nil {
		var err error
		if pin, pinned, err = s.Trust.Pinned(gun); err != nil {
			return nil, err
		}
	}
	t := &Trusted{GUN: gun, raw: current}
	if pin != nil {
		root, err := trust.WalkRoots(gun, pinned, func(v int) []byte { return req.RootOfVersion(gun, v) }, current)
		if err != nil {
			return nil, err
		}
		t.Root, t.How, t.PinnedVersion = root, TrustedByPin, pin.Version
		for v := pin.Version + 1; v < root.Signed.Version; v++ {
			t.chain = append(t.chain, req.RootOfVersion(gun, v))
		}
	} else {
		root, err := trust.ValidateFirstUse(gun, current)
		if err != nil {
			return nil, err
		}
		t.Root = root
		if t.How, err = s.vouch(gun, root); err != nil {
			return nil, err
		}
	}
	t.Version = t.Root.Signed.Version
	ts, err := req.ServerKey(gun, data.CanonicalTimestampRole)
	if err != nil {
		return nil, err
	}
	keys, _, err := trust.RoleKeys(t.Root, data.CanonicalTimestampRole)
	if err != nil {
		return nil, err
	}
	if len(keys) != 1 || keys[0].ID() != ts.ID() {
		want := ""
		if len(keys) > 0 {
			want = keys[0].ID()
		}
		return nil, &ServerKeyMismatchError{GUN: gun, Role: "timestamp", Trusted: want, Given: ts.ID()}
	}
	s.trusted = append(s.trusted, t)
	return t, nil
}

// TrustContinued is TrustCurrent for a bundle that continues a ceremony
// (sign): a GUN whose pin is the bundle's own new root (this machine wrote
// the bundle, or imported it) is trusted by that pin; verify has checked
// that the new root follows the request's current one.
func (s *Session) TrustContinued(req *bundle.Request, gun string, newRoot []byte) (*Trusted, error) {
	if s.Trust != nil && newRoot != nil {
		pin, pinned, err := s.Trust.Pinned(gun)
		if err != nil {
			return nil, err
		}
		if pin != nil && s.heldCurrent(req, gun) {
			if root, err := trust.WalkRoots(gun, pinned, nil, newRoot); err == nil {
				t := &Trusted{GUN: gun, How: TrustedByPin, PinnedVersion: pin.Version, Version: pin.Version, Root: root, raw: newRoot}
				s.trusted = append(s.trusted, t)
				return t, nil
			}
		}
	}
	return s.TrustCurrent(req, gun)
}

// heldCurrent says whether the request's current root of gun is a root
// this machine holds (the one its bundle was made from), byte for byte in
// content: a carried request cannot be doctored after the bundle is made.
func (s *Session) heldCurrent(req *bundle.Request, gun string) bool {
	cur := req.Metadata(gun, data.CanonicalRootRole)
	v, err := trust.RootVersion(cur)
	if err != nil {
		return false
	}
	held, err := s.Trust.Root(gun, v)
	if err != nil || held == nil {
		return false
	}
	_, err = trust.WalkRoots(gun, held, nil, cur)
	return err == nil
}

// vouch asks the operator to vouch for the root key IDs of a GUN trusted
// on first use.
func (s *Session) vouch(gun string, root *data.SignedRoot) (string, error) {
	ids := rootKeyIDs(root)
	if given, ok := s.TOFU[gun]; ok {
		if !sameIDs(given, ids) {
			return "", &NotTrustedError{GUN: gun, KeyIDs: ids, Reason: fmt.Sprintf("the key IDs given for it (%s) are not its root keys", strings.Join(given, ", "))}
		}
		return TrustedFirstUseListed, nil
	}
	if s.Confirm == nil {
		return "", &NotTrustedError{GUN: gun, KeyIDs: ids, Reason: "no pin, and nobody to confirm its root keys"}
	}
	var shown, want []string
	for _, id := range ids {
		words, _ := backup.Words(id)
		shown = append(shown, fmt.Sprintf("%s (%s)", id, words))
		want = append(want, trust.ShortID(id))
	}
	var ce *ConfirmationError
	err := s.ConfirmTyped(Confirmation{
		Action: fmt.Sprintf("%s has no trusted root on this machine; its root keys in the request bundle are:\n  %s\ncompare them with your record before you trust them",
			gun, strings.Join(shown, "\n  ")),
		Prompt: "Type the first 12 characters of each root key ID, in this order, separated by spaces: ",
		What:   "root key IDs", Want: strings.Join(want, " ")})
	if err != nil && !errors.As(err, &ce) {
		// Nobody could be asked (no terminal): the GUN stays untrusted.
		return "", &NotTrustedError{GUN: gun, KeyIDs: ids, Reason: "no pin, and its root keys could not be confirmed: " + err.Error()}
	}
	if err != nil {
		return "", err
	}
	return TrustedFirstUseTyped, nil
}

// CheckNew refuses a GUN the request calls new while this machine trusts a
// root for it: the online machine may be hiding the repository.
func (s *Session) CheckNew(gun string) error {
	if s.Trust == nil {
		return nil
	}
	pin, err := s.Trust.Pin(gun)
	if err != nil || pin == nil {
		return err
	}
	return &HiddenRepoError{GUN: gun, Version: pin.Version}
}

// RecordTrust writes how each GUN's current root was trusted into the
// transcript.
func (s *Session) RecordTrust() error {
	for _, t := range s.trusted {
		if err := s.Record("trust.root", t); err != nil {
			return err
		}
	}
	return nil
}

// pinWritten pins what a bundle just written and verified establishes: the
// current roots trusted on first use, then every new root whose threshold
// is met (an incomplete one is not trusted until its holders have signed).
// One batch: every pin is checked before any is written, and all are
// durable when it returns (store.SetBatch).
func (s *Session) pinWritten(out string, files bundle.Files, info bundle.SignedInfo, complete map[string]bool) error {
	if s.Trust == nil {
		return nil
	}
	var ups []store.Update
	// What the chain walk verified is trusted from now on too.
	chains := map[string][][]byte{}
	for _, t := range s.trusted {
		chains[t.GUN] = append(append(chains[t.GUN], t.chain...), t.raw)
		source := store.SourceVerified
		if t.How != TrustedByPin {
			source = store.SourceTOFU
		} else if t.Version == t.PinnedVersion {
			continue
		}
		ups = append(ups, store.Update{GUN: t.GUN, Chain: t.chain, Root: t.raw, Source: source, Detail: t.How})
	}
	for _, r := range info.Repos {
		root := files[bundle.RepoFile(r.GUN, "root.json")]
		if root == nil || !complete[r.GUN] {
			continue
		}
		ups = append(ups, store.Update{GUN: r.GUN, Chain: chains[r.GUN], Root: root, Source: store.SourceSigned, Detail: out})
	}
	_, err := s.Trust.SetBatch(ups, s.Now())
	return err
}

func rootKeyIDs(root *data.SignedRoot) []string {
	ids := append([]string(nil), root.Signed.Roles[data.CanonicalRootRole].KeyIDs...)
	sort.Strings(ids)
	return ids
}

// sameIDs says whether given (full IDs or prefixes of at least 12
// characters) names exactly the keys ids.
func sameIDs(given, ids []string) bool {
	if len(given) != len(ids) {
		return false
	}
	used := map[string]bool{}
	for _, g := range given {
		if len(g) < 12 {
			return false
		}
		match := ""
		for _, id := range ids {
			if strings.HasPrefix(id, g) {
				if match != "" {
					return false
				}
				match = id
			}
		}
		if match == "" || used[match] {
			return false
		}
		used[match] = true
	}
	return true
}

// PlanError is a change whose new root differs from the trusted one in a
// way the command was not asked to make.
type PlanError struct {
	GUN, Command string
	Roles        []string // roles changed beyond what the command may change
}

func (e *PlanError) Error() string {
	return fmt.Sprintf("%s: %s would change the %s role(s) of root, which it was not asked to change (nothing was signed)",
		e.GUN, e.Command, strings.Join(e.Roles, ", "))
}

// UnvouchedKeysError names keys a new root would trust that the operator
// neither holds nor had trusted before.
type UnvouchedKeysError struct {
	GUN  string
	Keys []string // "role key-ID"
}

func (e *UnvouchedKeysError) Error() string {
	return fmt.Sprintf("%s: the new root would trust keys that are neither at hand nor in the trusted root: %s (nothing was signed)",
		e.GUN, strings.Join(e.Keys, ", "))
}

// checkRootChange holds a new root to what the command may change: only
// the roles it names, and only keys the operator holds, keys of the
// trusted current root, or the server's own keys for the server-managed
// roles (shown and recorded).
func (b *Batch) checkRootChange(cur *trust.Current, ch *Change, allowed []data.RoleName) error {
	var extra []string
	for _, role := range trust.ChangedRoles(cur.Root, ch.Root) {
		if !slices.Contains(allowed, role) {
			extra = append(extra, role.String())
		}
	}
	if len(extra) > 0 {
		return &PlanError{GUN: cur.GUN, Command: b.Command(), Roles: extra}
	}
	var unvouched []string
	for _, role := range data.BaseRoles {
		r := ch.Root.Signed.Roles[role]
		if r == nil {
			continue
		}
		for _, id := range r.KeyIDs {
			if _, ok := cur.Root.Signed.Keys[id]; ok {
				continue
			}
			k := ch.Root.Signed.Keys[id]
			if k == nil {
				unvouched = append(unvouched, role.String()+" "+trust.ShortID(id)+" (not in root's keys)")
				continue
			}
			if c, err := trust.CanonicalID(k); err == nil && b.atHand[c] {
				continue
			}
			if role == data.CanonicalTimestampRole || role == data.CanonicalSnapshotRole {
				if sk, err := b.Request.ServerKey(cur.GUN, role); err == nil && sk.ID() == id {
					continue
				}
			}
			unvouched = append(unvouched, role.String()+" "+trust.ShortID(id))
		}
	}
	if len(unvouched) > 0 {
		return &UnvouchedKeysError{GUN: cur.GUN, Keys: unvouched}
	}
	return nil
}
