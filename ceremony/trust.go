package ceremony

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/trust"
	"github.com/keyrite/keyrite/trust/store"
	"github.com/theupdateframework/notary/tuf/data"
)

// PinChange is what a trust import did for one GUN.
type PinChange struct {
	GUN      string `json:"gun"`
	Version  int    `json:"version"`
	Previous int    `json:"previous_version,omitempty"` // 0: the GUN was not pinned
	Action   string `json:"action"`                     // "pinned", "advanced", "unchanged"
}

// errNoTrustStore is an operation on the trust store without one.
var errNoTrustStore = errors.New("no trust store: the user's configuration directory is unknown (set --trust-dir)")

// TrustImport pins the roots that a signed bundle (made and verified on
// another air-gapped machine, e.g. a co-holder's) or a trust export
// establishes. A GUN pinned here already advances only along a chain from
// its pin; a GUN not pinned here is pinned as the import says (the operator
// chose to trust that media).
func TrustImport(env session.Env, dir string) ([]PinChange, error) {
	if env.Trust == nil {
		return nil, errNoTrustStore
	}
	kind, err := bundle.KindOf(dir)
	if err != nil {
		return nil, err
	}
	if kind == bundle.KindTrust {
		return importExport(env, dir)
	}
	s, err := bundle.ReadSigned(dir)
	if err != nil {
		return nil, err
	}
	rep, err := verify.Signed(s, env.Now(), env.VerifyOptions())
	var inc *verify.IncompleteError
	if err != nil && !errors.As(err, &inc) {
		return nil, err
	}
	complete := map[string]bool{}
	for _, r := range rep.Repos {
		complete[r.GUN] = rootThresholdsMet(r)
	}
	var out []PinChange
	var ups []store.Update
	for _, r := range s.Info.Repos {
		root := s.RepoMetadata(r.GUN, "root")
		if root == nil || !complete[r.GUN] {
			continue
		}
		versions := func(v int) []byte { return s.Request.RootOfVersion(r.GUN, v) }
		ch, up, err := advance(env, r.GUN, versions, root, store.SourceImported, dir)
		if err != nil {
			return nil, err
		}
		out, ups = append(out, *ch), appendUpdate(ups, up)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bundle %s signs no complete root: nothing to pin", dir)
	}
	return out, setBatch(env, ups)
}

// appendUpdate adds a pin to write, if any.
func appendUpdate(ups []store.Update, up *store.Update) []store.Update {
	if up == nil {
		return ups
	}
	return append(ups, *up)
}

// setBatch writes an import's pins in one batch, all or none: every GUN is
// checked before any is written (store.SetBatch).
func setBatch(env session.Env, ups []store.Update) error {
	_, err := env.Trust.SetBatch(ups, env.Now())
	return err
}

// advance checks root for gun: along the chain from the pin when there is
// one, else from the earliest version the media carries. It returns the
// pin to write (nil when the pin stays), which the import writes with the
// others once every GUN is checked.
func advance(env session.Env, gun string, versions func(int) []byte, root []byte, source, detail string) (*PinChange, *store.Update, error) {
	v, err := trust.RootVersion(root)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", gun, err)
	}
	pin, pinned, err := env.Trust.Pinned(gun)
	if err != nil {
		return nil, nil, err
	}
	ch := &PinChange{GUN: gun, Version: v, Action: "pinned"}
	from := 1
	start := versions(1)
	if pin != nil {
		ch.Previous, from, start = pin.Version, pin.Version, pinned
		if v < pin.Version {
			ch.Version, ch.Action = pin.Version, "unchanged (a newer version is pinned here)"
			return ch, nil, nil
		}
	}
	if start == nil {
		// The media carries no earlier version: the root stands alone.
		start, from = root, v
	}
	if _, err := trust.WalkRoots(gun, start, versions, root); err != nil {
		return nil, nil, err
	}
	var chain [][]byte
	for i := from + 1; i < v; i++ {
		chain = append(chain, versions(i))
	}
	if pin != nil && v == pin.Version {
		ch.Action = "unchanged"
		return ch, nil, nil
	}
	if pin != nil {
		ch.Action = "advanced"
	}
	return ch, &store.Update{GUN: gun, Chain: chain, Root: root, Source: source, Detail: detail}, nil
}

// rootThresholdsMet says whether a repository's root met its thresholds.
func rootThresholdsMet(r *trust.RepoReport) bool {
	for _, role := range r.Roles {
		if strings.HasPrefix(role.Role, "root") && !role.ThresholdMet {
			return false
		}
	}
	return true
}

// trustPinsName is the list of pins in a trust export.
const trustPinsName = "pins.json"

// TrustExport writes the pins of guns (all when empty), with every root
// held for them, to a new bundle for another air-gapped machine.
func TrustExport(env session.Env, out string, guns []string) ([]store.Pin, error) {
	if env.Trust == nil {
		return nil, errNoTrustStore
	}
	pins, err := env.Trust.List()
	if err != nil {
		return nil, err
	}
	if len(guns) > 0 {
		want := map[string]bool{}
		for _, g := range guns {
			want[g] = true
		}
		var sel []store.Pin
		for _, p := range pins {
			if want[p.GUN] {
				sel = append(sel, p)
				delete(want, p.GUN)
			}
		}
		for g := range want {
			return nil, fmt.Errorf("%s is not pinned in %s", g, env.Trust.Dir)
		}
		pins = sel
	}
	if len(pins) == 0 {
		return nil, fmt.Errorf("nothing is pinned in %s", env.Trust.Dir)
	}
	files := bundle.Files{}
	for _, p := range pins {
		hist, err := env.Trust.History(p.GUN)
		if err != nil {
			return nil, err
		}
		for i, v := range p.Versions {
			if v <= p.Version {
				files[bundle.RepoFile(p.GUN, bundle.RootVersionFile(v))] = hist[i]
			}
		}
	}
	b, err := json.MarshalIndent(pins, "", "  ")
	if err != nil {
		return nil, err
	}
	files[trustPinsName] = append(b, '\n')
	if err := session.CheckNewOutput(out); err != nil {
		return nil, err
	}
	return pins, bundle.Write(out, bundle.KindTrust, files)
}

// importExport pins what a trust export holds.
func importExport(env session.Env, dir string) ([]PinChange, error) {
	files, err := bundle.Read(dir, bundle.KindTrust)
	if err != nil {
		return nil, err
	}
	var pins []store.Pin
	if err := json.Unmarshal(files[trustPinsName], &pins); err != nil {
		return nil, &bundle.Error{Bundle: dir, Reason: fmt.Sprintf("%s is not valid: %v", trustPinsName, err)}
	}
	sort.Slice(pins, func(i, j int) bool { return pins[i].GUN < pins[j].GUN })
	var out []PinChange
	var ups []store.Update
	for _, p := range pins {
		if err := trust.ValidateGUN(p.GUN); err != nil {
			return nil, &bundle.Error{Bundle: dir, Reason: err.Error()}
		}
		held := map[int][]byte{}
		for name, b := range files {
			if gun, f, ok := bundle.ParseRepoFile(name); ok && gun == p.GUN && path.Dir(f) == "." {
				if n, ok := strings.CutSuffix(f, ".root.json"); ok {
					if v, err := strconv.Atoi(n); err == nil {
						held[v] = b
					}
				}
			}
		}
		root := held[p.Version]
		if root == nil {
			return nil, &bundle.Error{Bundle: dir, Reason: fmt.Sprintf("%s: the pinned version %d is missing", p.GUN, p.Version)}
		}
		ch, up, err := advance(env, p.GUN, func(v int) []byte { return held[v] }, root, store.SourceImported, dir)
		if err != nil {
			return nil, err
		}
		out, ups = append(out, *ch), appendUpdate(ups, up)
	}
	return out, setBatch(env, ups)
}

// TrustForget drops the pin of a GUN (or takes it back to a version held,
// keep > 0), after the operator types the GUN back: a root this machine
// signed but that was never published (a discarded bundle) otherwise
// blocks every later ceremony for that GUN.
func TrustForget(env session.Env, gun string, keep int) (*store.Pin, error) {
	if env.Trust == nil {
		return nil, errNoTrustStore
	}
	pin, err := env.Trust.Pin(gun)
	if err != nil {
		return nil, err
	}
	if pin == nil {
		return nil, fmt.Errorf("%s is not pinned in %s", gun, env.Trust.Dir)
	}
	action := fmt.Sprintf("forget the pinned root version %d of %s (root keys %s)", pin.Version, gun, trust.ListIDs(pin.RootKeyIDs, true))
	if keep > 0 {
		action = fmt.Sprintf("take the pin of %s back from version %d to version %d", gun, pin.Version, keep)
	}
	if err := env.ConfirmTyped(session.Confirmation{Action: action, What: "GUN", Want: gun,
		Prompt: fmt.Sprintf("Type the GUN to confirm (%s): ", gun)}); err != nil {
		return nil, err
	}
	return env.Trust.Forget(gun, keep, env.Now())
}

// TrustNote is what this machine's trust store says of one repository of
// a signed bundle.
type TrustNote struct {
	GUN           string `json:"gun"`
	PinnedVersion int    `json:"pinned_version,omitempty"`
	Note          string `json:"note"`
}

// CheckTrust checks, for every repository of a verified signed bundle (the
// one verify read, not read again) that this machine has a pin for, that
// the root the bundle starts from chains from the pin (a *trust.ChainError
// otherwise). Repositories without a pin are reported as such.
func CheckTrust(env session.Env, s *bundle.Signed) ([]TrustNote, error) {
	var out []TrustNote
	for _, r := range s.Info.Repos {
		n := TrustNote{GUN: r.GUN}
		var pin *store.Pin
		var pinned []byte
		if env.Trust != nil {
			var err error
			if pin, pinned, err = env.Trust.Pinned(r.GUN); err != nil {
				return nil, err
			}
		}
		current := s.Request.Metadata(r.GUN, data.CanonicalRootRole)
		root := s.RepoMetadata(r.GUN, "root")
		switch {
		case pin == nil:
			n.Note = "not pinned on this machine"
		case root != nil && samePinned(r.GUN, pinned, root):
			n.PinnedVersion = pin.Version
			n.Note = fmt.Sprintf("its new root is the one pinned here (version %d)", pin.Version)
		case current == nil:
			return nil, &session.HiddenRepoError{GUN: r.GUN, Version: pin.Version}
		default:
			n.PinnedVersion = pin.Version
			if _, err := trust.WalkRoots(r.GUN, pinned, func(v int) []byte { return s.Request.RootOfVersion(r.GUN, v) }, current); err != nil {
				return nil, err
			}
			n.Note = fmt.Sprintf("the root it starts from chains from the root pinned here (version %d)", pin.Version)
		}
		out = append(out, n)
	}
	return out, nil
}

// samePinned says whether a bundle's new root is the one pinned (a bundle
// this machine wrote itself).
func samePinned(gun string, pinned, root []byte) bool {
	if bytes.Equal(pinned, root) {
		return true // this machine pinned these very bytes
	}
	_, err := trust.WalkRoots(gun, pinned, nil, root)
	return err == nil
}
