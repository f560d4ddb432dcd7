package canonjson

import "bytes"

// envelopeEscapes are the escapes notary's envelope encoder (docker/go's
// json.Marshal, which compacts the signed part with HTML escaping) writes
// in place of characters canonical JSON keeps as they are.
var envelopeEscapes = map[string]string{
	`\u003c`: "<", `\u003e`: ">", `\u0026`: "&", `\u2028`: "\u2028", `\u2029`: "\u2029",
}

// UnescapeEnvelope undoes, inside the strings of a signed part read from
// a metadata file, the escapes the envelope's encoder writes for <, >, &,
// U+2028 and U+2029: the bytes notary signed. It reports whether there
// was any. Every other byte, and every other escape, is left as it is
// (Check then refuses those): a `\\` is an escaped backslash, so the
// text `\\u0026` is not an escape of &.
func UnescapeEnvelope(b []byte) ([]byte, bool) {
	if !bytes.Contains(b, []byte(`\u`)) {
		return b, false
	}
	out := make([]byte, 0, len(b))
	found, inString := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			inString = !inString
		case c == '\\' && inString && i+1 < len(b):
			if i+6 <= len(b) {
				if r, ok := envelopeEscapes[string(b[i:i+6])]; ok {
					out = append(out, r...)
					found = true
					i += 5
					continue
				}
			}
			out = append(out, c, b[i+1])
			i++
			continue
		}
		out = append(out, c)
	}
	return out, found
}
