package recovery

import (
	"slices"

	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/trust"
)

// IncidentRepo is what an incident path found and changed in one
// repository.
type IncidentRepo struct {
	GUN               string            `json:"gun"`
	Signer            string            `json:"signer,omitempty"`
	CompromisedKeyIDs []string          `json:"compromised_key_ids"`
	NewKeyID          string            `json:"new_key_id"`
	SignedRoles       []string          `json:"signed_roles"` // roles the compromised keys signed
	Relisted          []string          `json:"relisted_roles"`
	Resigned          []string          `json:"resigned_roles"`
	Dropped           []trust.TagRecord `json:"dropped"`
	Kept              []trust.TagRecord `json:"kept"`
	Writable          []trust.TagRecord `json:"writable,omitempty"` // kept, in roles the compromised key could write: review
	Review            []ReviewRole      `json:"review,omitempty"`   // incident targets: content signed since --since
}

// IncidentResult is an incident path's report: the update and, per
// repository, the incident.
type IncidentResult struct {
	*session.UpdateResult
	Incident []IncidentRepo `json:"incident"`
}

// Review is what the operator is shown before the typed confirmation.
type Review struct {
	Command string         `json:"command"`
	Repos   []IncidentRepo `json:"repos"`
	Want    string         `json:"-"` // what the operator must type
}

// withConfirmation returns env whose preview, after every repository was
// checked and every change computed (nothing signed yet), shows the
// review through show and asks the operator to type want; check runs
// first and may refuse the whole run.
func withConfirmation(env session.Env, review *Review, show func(*Review) error, check func() error, action string) session.Env {
	inner := env.Preview
	env.Preview = func(p *session.Preview) error {
		if inner != nil {
			if err := inner(p); err != nil {
				return err
			}
		}
		if check != nil {
			if err := check(); err != nil {
				return err
			}
		}
		if show != nil {
			if err := show(review); err != nil {
				return err
			}
		}
		return env.ConfirmTyped(session.Confirmation{Action: action, What: "confirmation",
			Prompt: `Type "` + review.Want + `" to sign`, Want: review.Want})
	}
	return env
}

// roleNames lists the roles of delegation changes.
func roleNames(ch []trust.DelegationChange) []string {
	var out []string
	for _, c := range ch {
		out = append(out, c.Role.String())
	}
	return out
}

// tagNames are the distinct tag names of records.
func tagNames(recs []trust.TagRecord) []string {
	var out []string
	for _, r := range recs {
		if !slices.Contains(out, r.Name) {
			out = append(out, r.Name)
		}
	}
	return out
}
