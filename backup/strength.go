package backup

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/match"
)

// MinPassphraseScore is the least zxcvbn score (0 to 4) a custodian's new
// passphrase must have: 3 is "safely unguessable: moderate protection
// from an offline slow-hash scenario" (some 10^10 guesses), which is the
// attack on a share: whoever holds the file can try passphrases against
// its scrypt stanza for as long as they like.
const MinPassphraseScore = 3

// maxRated is how much of a passphrase is rated: zxcvbn's matching grows
// faster than the length, and its authors rate the first 100 characters.
// A passphrase whose first 100 characters are strong is strong.
const maxRated = 100

// WeakPassphraseError is a custodian's new passphrase that is too easy to
// guess, with zxcvbn's reasons.
type WeakPassphraseError struct {
	Custodian   string
	Score       int // 0 to 4
	Warning     string
	Suggestions []string
}

func (e *WeakPassphraseError) Error() string {
	msg := fmt.Sprintf("custodian %s: the passphrase is too easy to guess (strength %d of 4, at least %d needed)", e.Custodian, e.Score, MinPassphraseScore)
	if e.Warning != "" {
		msg += ": " + strings.ToLower(e.Warning[:1]) + e.Warning[1:]
	}
	return msg
}

// CheckPassphrase rates a custodian's new passphrase with zxcvbn, which
// knows common passwords, names, words, keyboard patterns, dates,
// sequences and repeats; the custodian's name and the key's label count as
// known to an attacker. A passphrase rated below MinPassphraseScore is a
// *WeakPassphraseError saying why.
func CheckPassphrase(custodian, label string, pass []byte) error {
	if !utf8.Valid(pass) {
		return &WeakPassphraseError{Custodian: custodian, Warning: "It is not valid UTF-8 text",
			Suggestions: []string{"Use a few words that can be typed on any keyboard"}}
	}
	// zxcvbn takes a string: a copy that cannot be wiped, as age's
	// scrypt recipient makes anyway.
	s := string(pass)
	if n := utf8.RuneCountInString(s); n > maxRated {
		s = string([]rune(s)[:maxRated])
	}
	r := zxcvbn.PasswordStrength(s, []string{custodian, label, "keyrite", "notary", "docker", "backup", "share", "custodian"})
	if r.Score >= MinPassphraseScore {
		return nil
	}
	w, sugg := feedback(r.Sequence)
	return &WeakPassphraseError{Custodian: custodian, Score: r.Score, Warning: w, Suggestions: sugg}
}

// feedback is zxcvbn's own (feedback.coffee of zxcvbn 4.4.2, which the Go
// port does not carry) for a weak passphrase: what its longest guessable
// part is, and what to do instead.
func feedback(seq []*match.Match) (warning string, suggestions []string) {
	if len(seq) == 0 {
		return "", []string{"Use a few words, avoid common phrases", "No need for symbols, digits, or uppercase letters"}
	}
	longest := seq[0]
	for _, m := range seq[1:] {
		if len(m.Token) > len(longest.Token) {
			longest = m
		}
	}
	warning, suggestions = matchFeedback(longest, len(seq) == 1)
	return warning, append([]string{"Add another word or two. Uncommon words are better."}, suggestions...)
}

var (
	startUpper = regexp.MustCompile(`^[A-Z][^A-Z]+$`)
	allUpper   = regexp.MustCompile(`^[^a-z]+$`)
)

func matchFeedback(m *match.Match, sole bool) (string, []string) {
	switch m.Pattern {
	case "dictionary":
		return dictionaryFeedback(m, sole)
	case "spatial":
		w := "Short keyboard patterns are easy to guess"
		if m.Turns == 1 {
			w = "Straight rows of keys are easy to guess"
		}
		return w, []string{"Use a longer keyboard pattern with more turns"}
	case "repeat":
		w := `Repeats like "abcabcabc" are only slightly harder to guess than "abc"`
		if utf8.RuneCountInString(m.BaseToken) == 1 {
			w = `Repeats like "aaa" are easy to guess`
		}
		return w, []string{"Avoid repeated words and characters"}
	case "sequence":
		return "Sequences like abc or 6543 are easy to guess", []string{"Avoid sequences"}
	case "regex":
		if m.RegexName == "recent_year" {
			return "Recent years are easy to guess", []string{"Avoid recent years", "Avoid years that are associated with you"}
		}
	case "date":
		return "Dates are often easy to guess", []string{"Avoid dates and years that are associated with you"}
	}
	return "", nil
}

func dictionaryFeedback(m *match.Match, sole bool) (string, []string) {
	var w string
	switch m.DictionaryName {
	case "passwords":
		switch {
		case sole && !m.L33t && !m.Reversed && m.Rank <= 10:
			w = "This is a top-10 common password"
		case sole && !m.L33t && !m.Reversed && m.Rank <= 100:
			w = "This is a top-100 common password"
		case sole && !m.L33t && !m.Reversed:
			w = "This is a very common password"
		case m.Guesses <= 1e4:
			w = "This is similar to a commonly used password"
		}
	case "english_wikipedia":
		if sole {
			w = "A word by itself is easy to guess"
		}
	case "surnames", "male_names", "female_names":
		w = "Common names and surnames are easy to guess"
		if sole {
			w = "Names and surnames by themselves are easy to guess"
		}
	case "user_inputs":
		w = "The custodian's name, the key's label and words of this ceremony are easy to guess"
	}
	var s []string
	switch {
	case startUpper.MatchString(m.Token):
		s = append(s, "Capitalization doesn't help very much")
	case allUpper.MatchString(m.Token) && strings.ToLower(m.Token) != m.Token:
		s = append(s, "All-uppercase is almost as easy to guess as all-lowercase")
	}
	if m.Reversed && utf8.RuneCountInString(m.Token) >= 4 {
		s = append(s, "Reversed words aren't much harder to guess")
	}
	if m.L33t {
		s = append(s, "Predictable substitutions like '@' instead of 'a' don't help very much")
	}
	return w, s
}
