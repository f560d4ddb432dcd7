package bundle

import (
	"fmt"
	"net/url"
	"path"
	"strings"
)

// fatReserved are the characters FAT and exFAT (and Windows) refuse in a
// file name, and '%', the escape itself.
const fatReserved = `<>:"\|?*%`

// RepoFile is where a GUN's file lives in a bundle: repos/GUN/_trust/NAME,
// each component of the GUN percent-encoded where FAT or exFAT could not
// hold it (the characters <>:"\|?*, '%', control characters, and a
// trailing dot or space), so that a bundle copied to a USB stick keeps
// its names: localhost:5000/team/api is repos/localhost%3A5000/team/api.
// The "_trust" element cannot be a repository name component, so no GUN's
// files can collide with another's. It is the one place that names them;
// ParseRepoFile reverses it.
func RepoFile(gun, name string) string { return path.Join("repos", EncodeGUN(gun), "_trust", name) }

// needsEncoding says whether EncodeGUN changes any byte of gun.
func needsEncoding(gun string) bool {
	for j := 0; j < len(gun); j++ {
		c := gun[j]
		if c < 0x20 || c == 0x7f || strings.IndexByte(fatReserved, c) >= 0 {
			return true
		}
		if (c == '.' || c == ' ') && (j == len(gun)-1 || gun[j+1] == '/') {
			return true
		}
	}
	return false
}

// legacyRepoFile is where bundles written before the encoding kept a GUN's
// files (the GUN as it is); they are still read.
func legacyRepoFile(gun, name string) string { return path.Join("repos", gun, "_trust", name) }

// EncodeGUN gives the directory names of a GUN in a bundle.
func EncodeGUN(gun string) string {
	if !needsEncoding(gun) {
		return gun // nearly every GUN: no allocation per file looked up
	}
	parts := strings.Split(gun, "/")
	for i, p := range parts {
		var b strings.Builder
		for j := 0; j < len(p); j++ {
			c := p[j]
			last := j == len(p)-1
			if c < 0x20 || c == 0x7f || strings.IndexByte(fatReserved, c) >= 0 || (last && (c == '.' || c == ' ')) {
				fmt.Fprintf(&b, "%%%02X", c)
				continue
			}
			b.WriteByte(c)
		}
		parts[i] = b.String()
	}
	return strings.Join(parts, "/")
}

// DecodeGUN reverses EncodeGUN; a name written before the encoding (a raw
// ':') decodes to itself.
func DecodeGUN(enc string) (string, error) {
	parts := strings.Split(enc, "/")
	for i, p := range parts {
		d, err := url.PathUnescape(p)
		if err != nil || strings.Contains(d, "/") {
			return "", fmt.Errorf("invalid repository directory %q in bundle", enc)
		}
		parts[i] = d
	}
	return strings.Join(parts, "/"), nil
}

// ParseRepoFile reads a bundle path back into the GUN and file name that
// RepoFile (or a bundle from before its encoding) made it from.
func ParseRepoFile(p string) (gun, name string, ok bool) {
	rest, ok := strings.CutPrefix(p, "repos/")
	if !ok {
		return "", "", false
	}
	enc, name, ok := strings.Cut(rest, "/_trust/")
	if !ok {
		return "", "", false
	}
	gun, err := DecodeGUN(enc)
	if err != nil {
		return "", "", false
	}
	return gun, name, true
}

// Repo is a GUN's file NAME in these files, nil when absent: under its
// encoded name, else where a bundle from before the encoding kept it.
func (f Files) Repo(gun, name string) []byte {
	if b, ok := f[RepoFile(gun, name)]; ok {
		return b
	}
	return f[legacyRepoFile(gun, name)]
}
