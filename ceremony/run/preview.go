package run

import (
	"fmt"
	"strings"
	"time"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/trust"
)

// FormatPreview is what the operator reads before typing yes: per
// repository the root keys added, removed and kept (each key once with
// its full ID and PGP words), thresholds, versions, expiries, the targets
// and snapshot keys, and the delegations.
func FormatPreview(step, steps int, p *session.Preview) string {
	var b strings.Builder
	fmt.Fprintf(&b, "step %d of %d (%s) signs, for %d repositories:\n", step, steps, p.Command, len(p.Repos))
	// Every key once, numbered: the same keys usually serve every GUN.
	names := map[string]string{}
	var order []string
	note := func(ids ...[]string) {
		for _, list := range ids {
			for _, id := range list {
				if _, ok := names[id]; !ok {
					names[id] = fmt.Sprintf("K%d", len(order)+1)
					order = append(order, id)
				}
			}
		}
	}
	for _, r := range p.Repos {
		note(r.RootKeysAdded, r.RootKeysRemoved, r.RootKeysKept, r.TargetsKeysAdded, r.TargetsKeysRemoved)
	}
	if len(order) > 0 {
		fmt.Fprintf(&b, "  keys (compare the words with the key's record):\n")
		for _, id := range order {
			fmt.Fprintf(&b, "    %-3s %s\n", names[id], id)
			lines, _ := backup.WordLines(id, 8)
			for j, l := range lines {
				label := "       "
				if j == 0 {
					label = "words: "
				}
				fmt.Fprintf(&b, "        %s%s\n", label, l)
			}
		}
	}
	key := func(id string) string { return names[id] + " " + trust.ShortID(id) }
	for _, r := range p.Repos {
		state := ""
		if r.New {
			state = " (new repository)"
		}
		fmt.Fprintf(&b, "  %s%s\n", r.GUN, state)
		if r.Root {
			fmt.Fprintf(&b, "    root %s, expires %s\n", versions(r.RootVersion), expiries(r.RootExpires))
			total := len(r.RootKeysAdded) + len(r.RootKeysKept)
			if r.RootThreshold[0] != r.RootThreshold[1] && !r.New {
				fmt.Fprintf(&b, "    root threshold %d -> %d (of %d keys)\n", r.RootThreshold[0], r.RootThreshold[1], total)
			} else {
				fmt.Fprintf(&b, "    root threshold %d (of %d keys)\n", r.RootThreshold[1], total)
			}
			for _, id := range r.RootKeysAdded {
				fmt.Fprintf(&b, "    + root key %s added\n", key(id))
			}
			for _, id := range r.RootKeysRemoved {
				fmt.Fprintf(&b, "    - root key %s removed\n", key(id))
			}
			for _, id := range r.RootKeysKept {
				fmt.Fprintf(&b, "    = root key %s kept\n", key(id))
			}
			for _, id := range r.TargetsKeysAdded {
				fmt.Fprintf(&b, "    + targets key %s\n", key(id))
			}
			for _, id := range r.TargetsKeysRemoved {
				fmt.Fprintf(&b, "    - targets key %s\n", key(id))
			}
			if r.NewTargetsKey != "" {
				fmt.Fprintf(&b, "    + targets key: %s\n", r.NewTargetsKey)
			}
			if r.SnapshotKeys[0] != nil || r.SnapshotKeys[1] != nil {
				fmt.Fprintf(&b, "    snapshot key %s -> %s\n", shortIDs(r.SnapshotKeys[0]), shortIDs(r.SnapshotKeys[1]))
			}
		} else {
			fmt.Fprintf(&b, "    root unchanged\n")
		}
		if r.Targets {
			fmt.Fprintf(&b, "    targets %s, expires %s\n", versions(r.TargetsVersion), expiries(r.TargetsExpires))
			for _, d := range r.DelegationsAdded {
				fmt.Fprintf(&b, "    + delegation %s\n", d)
			}
			for _, d := range r.DelegationsRemoved {
				fmt.Fprintf(&b, "    - delegation %s\n", d)
			}
			for _, d := range r.DelegationsChanged {
				fmt.Fprintf(&b, "    ~ delegation %s\n", d)
			}
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func versions(v [2]int) string {
	if v[0] == 0 {
		return fmt.Sprintf("v%d", v[1])
	}
	return fmt.Sprintf("v%d -> v%d", v[0], v[1])
}

func expiries(e [2]time.Time) string {
	if e[0].IsZero() {
		return e[1].UTC().Format(time.DateOnly)
	}
	return e[0].UTC().Format(time.DateOnly) + " -> " + e[1].UTC().Format(time.DateOnly)
}

func shortIDs(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	var s []string
	for _, id := range ids {
		s = append(s, trust.ShortID(id))
	}
	return strings.Join(s, ", ")
}
