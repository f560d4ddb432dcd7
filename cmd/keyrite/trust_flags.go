package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// tofuFlag is --trust-on-first-use GUN=KEYID[,KEYID...]: the root key IDs
// the operator vouches for, for a GUN this machine has no pin for (for
// scripts; without it keyrite shows the IDs and asks for them typed back).
type tofuFlag []string

func addTOFUFlag(c *cobra.Command, f *tofuFlag) {
	c.Flags().StringArrayVar((*[]string)(f), "trust-on-first-use", nil,
		"GUN=KEYID[,KEYID...]: trust a repository this machine has no pin for, if its root keys are exactly these (IDs or 12+ character prefixes)")
}

// parse turns the flag into GUN -> key IDs.
func (f tofuFlag) parse(c *cobra.Command) (map[string][]string, error) {
	out := map[string][]string{}
	for _, v := range f {
		gun, ids, ok := strings.Cut(v, "=")
		if !ok || gun == "" || ids == "" {
			return nil, usagef(c, "--trust-on-first-use %q: want GUN=KEYID[,KEYID...]", v)
		}
		if _, dup := out[gun]; dup {
			return nil, usagef(c, "--trust-on-first-use: %s is given twice", gun)
		}
		for _, id := range strings.Split(ids, ",") {
			if len(id) < 12 || strings.Trim(strings.ToLower(id), "0123456789abcdef") != "" {
				return nil, usagef(c, "--trust-on-first-use %q: %q is not a key ID or a prefix of at least 12 hex characters", v, id)
			}
			out[gun] = append(out[gun], strings.ToLower(id))
		}
	}
	return out, nil
}
