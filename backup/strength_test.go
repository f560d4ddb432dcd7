package backup

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckPassphraseRefusesWeakOnes(t *testing.T) {
	for _, c := range []struct {
		pass, warning, suggestion string
	}{
		{"password", "This is a top-10 common password", "Add another word or two"},
		{"qwertyuiop", "This is a top-100 common password", ""},
		{"xcvbnm,./", "Straight rows of keys are easy to guess", "Use a longer keyboard pattern"},
		{"aaaaaaaaaaaa", `Repeats like "aaa" are easy to guess`, "Avoid repeated words and characters"},
		{"abcdefghijk", "Sequences like abc or 6543 are easy to guess", "Avoid sequences"},
		{"carol2019", "", ""},
		{"P@ssw0rd", "This is similar to a commonly used password", "Predictable substitutions"},
		{"Elephant", "This is a very common password", "Capitalization doesn't help very much"},
		{"jennifer", "", ""},
		{"carolcarol", "", "Avoid repeated words"},
		{"root-2026", "", ""}, // the key's label
		{"short", "", ""},
		{"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6", "It is not valid UTF-8 text", ""},
	} {
		err := CheckPassphrase("carol", "root-2026", []byte(c.pass))
		var we *WeakPassphraseError
		if !errors.As(err, &we) {
			t.Errorf("%q accepted", c.pass)
			continue
		}
		if we.Custodian != "carol" || we.Score >= MinPassphraseScore {
			t.Errorf("%q: %+v", c.pass, we)
		}
		if c.warning != "" && we.Warning != c.warning {
			t.Errorf("%q: warning %q, want %q", c.pass, we.Warning, c.warning)
		}
		if c.suggestion != "" && !strings.Contains(strings.Join(we.Suggestions, " "), c.suggestion) {
			t.Errorf("%q: suggestions %q, want %q", c.pass, we.Suggestions, c.suggestion)
		}
		if !strings.HasPrefix(err.Error(), "custodian carol: the passphrase is too easy to guess (strength ") || (len(c.pass) > 8 && strings.Contains(err.Error(), c.pass)) {
			t.Errorf("%q: message %q", c.pass, err)
		}
	}
	for _, pass := range []string{
		"correct horse battery staple",
		"carol's long passphrase for her share",
		"ThisIs_a-mixed 9 passphrase!",
		strings.Repeat("x", 50) + "bright copper kettles and warm woollen mittens", // the first 100 characters count
	} {
		if err := CheckPassphrase("carol", "root-2026", []byte(pass)); err != nil {
			if !strings.HasPrefix(pass, "xxx") {
				t.Errorf("%q refused: %v", pass, err)
			}
		}
	}
	// A passphrase of thousands of characters is rated quickly.
	long := []byte(strings.Repeat("correct horse battery staple ", 150))
	if err := CheckPassphrase("carol", "root", long); err != nil {
		t.Errorf("long passphrase: %v", err)
	}
}

// A weak passphrase stops Create before any share exists.
func TestCreateRefusesWeakPassphrase(t *testing.T) {
	ps := parties(t, 1)
	pc := party{c: mustCustodian(t, "dave=passphrase"), pass: []byte("dave1234")}
	_, err := Create(CreateOptions{Key: newKey(t), KeyID: testKeyID, Label: "root", Custodians: []Custodian{ps[0].c, pc.c},
		Threshold: 1, Passphrase: func(Custodian) ([]byte, error) { return []byte("dave1234"), nil }})
	var we *WeakPassphraseError
	if !errors.As(err, &we) || we.Custodian != "dave" {
		t.Fatalf("err = %v", err)
	}
}
