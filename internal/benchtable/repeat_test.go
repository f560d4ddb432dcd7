package benchtable

import (
	"fmt"
	"slices"
	"time"
)

// repeated measures a row t.repeat times (KEYRITE_BENCH_REPEAT, default
// 1), each time with its sides alternated as the row alternates them,
// and keeps the median of each time and the highest RSS: one run of a
// row swings by 20% on this machine, the raw baseline by more.
func (t *table) repeated(f func() row) row {
	var rs []row
	for range max(1, t.repeat) {
		t.round++
		rs = append(rs, f())
	}
	return medianRow(rs)
}

func medianRow(rs []row) row {
	if len(rs) == 1 {
		return rs[0]
	}
	pick := func(get func(row) time.Duration) time.Duration {
		ds := make([]time.Duration, len(rs))
		for i, r := range rs {
			ds[i] = get(r)
		}
		return median(ds)
	}
	out := rs[0]
	out.base = pick(func(r row) time.Duration { return r.base })
	out.after.d = pick(func(r row) time.Duration { return r.after.d })
	for _, r := range rs {
		out.after.rss = max(out.after.rss, r.after.rss)
	}
	if out.before != nil {
		b := *out.before
		b.d = pick(func(r row) time.Duration { return r.before.d })
		out.before = &b
	}
	// The note of the run whose time is the median (its step times).
	i := slices.IndexFunc(rs, func(r row) bool { return r.after.d == out.after.d })
	out.note = fmt.Sprintf("median of %d", len(rs))
	if rs[i].note != "" {
		out.note += "; " + rs[i].note
	}
	return out
}

// prefix makes a row's GUNs new in each repetition (the server keeps
// what an earlier one published).
func (t *table) prefix(p string) string {
	if t.round <= 1 {
		return p
	}
	return fmt.Sprintf("%s-r%d", p, t.round)
}
