package plan

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// secretName matches the names of fields that would hold a secret: pin,
// user_pin, so-pin, puk, passphrase, password, management_key, secret,
// private_key... (pin_policy is a policy, not a secret).
var secretName = regexp.MustCompile(`(?i)(^|[_\-. ])(pins?|puks?|passphrases?|passwords?|passwd|secrets?|management[_\- ]?key|mgmt[_\- ]?key|private[_\- ]?key|so[_\- ]?pin)($|[_\-. ])`)

// notSecret are field names that match secretName but hold none.
var notSecret = map[string]bool{"pin_policy": true}

// secretValue matches values that carry a secret whatever their field: a
// PIN in a URI, an age or SSH private key, a PEM private key.
var secretValue = regexp.MustCompile(`(?i)(^|[;?&:])(pin-value|pin|passphrase|password|pin-source)=|AGE-SECRET-KEY-|AGE-PLUGIN-[A-Z0-9]+-1|-----BEGIN [A-Z ]*PRIVATE KEY-----`)

// pinLike is what a PIN, PUK or passphrase given as a value looks like.
var pinLike = regexp.MustCompile(`^\S{4,}$`)

// findSecrets walks the whole document before it is decoded, so that a
// secret is refused wherever it is, even under a field the plan does not
// know; what it reports never repeats the secret.
func findSecrets(n *yaml.Node, path string) []Problem {
	var out []Problem
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if secretName.MatchString(k.Value) && !notSecret[k.Value] {
				what := "a field for a secret"
				if v.Kind == yaml.ScalarNode && pinLike.MatchString(v.Value) {
					what = "a value that looks like a PIN or passphrase"
				}
				out = append(out, Problem{Line: k.Line, Path: p, Msg: what})
				continue
			}
			out = append(out, findSecrets(v, p)...)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			out = append(out, findSecrets(item, fmt.Sprintf("%s[%d]", path, i+1))...)
		}
	case yaml.ScalarNode:
		if secretValue.MatchString(n.Value) {
			out = append(out, Problem{Line: n.Line, Path: path, Msg: "a value that carries a secret (" + describeSecret(n.Value) + ")"})
		}
	}
	return out
}

func describeSecret(v string) string {
	u := strings.ToUpper(v)
	switch {
	case strings.Contains(u, "AGE-SECRET-KEY-"), strings.Contains(u, "AGE-PLUGIN-"):
		return "an age identity"
	case strings.Contains(u, "PRIVATE KEY"):
		return "a private key"
	}
	return "a PIN or passphrase in a URI"
}
