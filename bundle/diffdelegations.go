package bundle

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/theupdateframework/notary/tuf/data"
)

// diffDelegation compares a delegation role: version, expiry, and its
// tags (added, removed, or pointing at other content).
func diffDelegation(role string, before, after []byte) ([]Change, error) {
	out, err := diffCommon(role, before, after)
	if err != nil {
		return nil, err
	}
	tags := func(raw []byte) (data.Files, error) {
		if raw == nil {
			return data.Files{}, nil
		}
		var st data.SignedTargets
		if err := json.Unmarshal(raw, &st); err != nil {
			return nil, fmt.Errorf("%s.json: %w", role, err)
		}
		return st.Signed.Targets, nil
	}
	b, err := tags(before)
	if err != nil {
		return nil, err
	}
	a, err := tags(after)
	if err != nil {
		return nil, err
	}
	ch := Change{Role: role, Field: "tags"}
	for name, m := range a {
		if old, ok := b[name]; !ok {
			ch.Added = append(ch.Added, name)
		} else if !old.Equals(m) {
			ch.Added, ch.Removed = append(ch.Added, name), append(ch.Removed, name)
		}
	}
	for name := range b {
		if _, ok := a[name]; !ok {
			ch.Removed = append(ch.Removed, name)
		}
	}
	if len(ch.Added)+len(ch.Removed) > 0 {
		sort.Strings(ch.Added)
		sort.Strings(ch.Removed)
		out = append(out, ch)
	}
	return out, nil
}
