package bundle

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// WritePrometheus writes statuses in the Prometheus text exposition format,
// for node_exporter's textfile collector: per GUN and role the days to
// expiry, the expiry time and the version, and per GUN whether the server
// has it. Each metric has its HELP and TYPE lines once, before its samples.
func WritePrometheus(w io.Writer, st []RepoStatus, now time.Time) error {
	type sample struct {
		labels string
		value  float64
	}
	metrics := []struct {
		name, help string
		samples    []sample
	}{
		{name: "keyrite_notary_repository_exists", help: "1 if the trust server has the repository (a root), 0 if not."},
		{name: "keyrite_notary_role_expiry_days", help: "Days until the role's metadata expires, as the trust server serves it (negative: expired)."},
		{name: "keyrite_notary_role_expiry_timestamp_seconds", help: "When the role's metadata expires, in seconds since the Unix epoch."},
		{name: "keyrite_notary_role_version", help: "The version of the role's metadata the trust server serves."},
	}
	for _, s := range st {
		exists := 0.0
		if s.Exists {
			exists = 1
		}
		g := `gun="` + escapeLabel(s.GUN) + `"`
		metrics[0].samples = append(metrics[0].samples, sample{g, exists})
		for _, r := range s.Expiries {
			l := g + `,role="` + escapeLabel(r.Role) + `",kind="` + r.Kind() + `"`
			metrics[1].samples = append(metrics[1].samples, sample{l, r.DaysLeft})
			metrics[2].samples = append(metrics[2].samples, sample{l, float64(r.Expires.Unix())})
			metrics[3].samples = append(metrics[3].samples, sample{l, float64(r.Version)})
		}
	}
	var b strings.Builder
	for _, m := range metrics {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", m.name, m.help, m.name)
		for _, smp := range m.samples {
			fmt.Fprintf(&b, "%s{%s} %s\n", m.name, smp.labels, strconv.FormatFloat(smp.value, 'f', -1, 64))
		}
	}
	fmt.Fprintf(&b, "# HELP keyrite_status_timestamp_seconds When keyrite status read the server.\n# TYPE keyrite_status_timestamp_seconds gauge\nkeyrite_status_timestamp_seconds %d\n", now.Unix())
	_, err := io.WriteString(w, b.String())
	return err
}

// escapeLabel escapes a label value as the exposition format wants:
// backslash, double quote and line feed.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }
