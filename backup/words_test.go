package backup

import (
	"slices"
	"strings"
	"testing"
)

func TestWordList(t *testing.T) {
	for name, list := range map[string][]string{"even": pgpEven, "odd": pgpOdd} {
		if len(list) != 256 {
			t.Fatalf("%s list has %d words", name, len(list))
		}
		// The published lists are in alphabetical order: a word typed in
		// the wrong place or misspelt tends to break it.
		lower := make([]string, len(list))
		for i, w := range list {
			lower[i] = strings.ToLower(w)
		}
		if !slices.IsSorted(lower) {
			for i := 1; i < len(lower); i++ {
				// The one place the published list itself is out of order.
				if lower[i-1] == "applicant" && lower[i] == "apollo" {
					continue
				}
				if lower[i-1] >= lower[i] {
					t.Errorf("%s list: %q before %q", name, list[i-1], list[i])
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, w := range append(slices.Clone(pgpEven), pgpOdd...) {
		if seen[strings.ToLower(w)] {
			t.Errorf("%q twice", w)
		}
		seen[strings.ToLower(w)] = true
	}
}

// TestWordsVector is the example from the PGP word list's description.
func TestWordsVector(t *testing.T) {
	got, err := Words("E58294F2E9A227486E8B061B31CC528FD7FA3F19")
	if err != nil {
		t.Fatal(err)
	}
	want := "topmost Istanbul Pluto vagabond treadmill Pacific brackish dictator goldfish Medusa afflict bravado chatter revolver Dupont midsummer stopwatch whimsical cowbell bottomless"
	if got != want {
		t.Errorf("Words =\n%s\nwant\n%s", got, want)
	}
	if _, err := Words("xyz"); err == nil {
		t.Error("non-hex accepted")
	}
	lines, _ := WordLines(strings.Repeat("00", 32), 8)
	if len(lines) != 4 || strings.Count(lines[0], " ") != 7 {
		t.Errorf("WordLines: %q", lines)
	}
}
