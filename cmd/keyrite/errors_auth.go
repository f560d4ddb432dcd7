package main

import (
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/bundle"
)

// authHint says how to give the token server other credentials.
func authHint(e *bundle.AuthError) string {
	switch {
	case e.Realm != "" && e.User == "":
		return "the server wants a token: log in (docker login " + hostOf(e.Server) + "), or give --auth-file FILE (mode 0600, USER:PASSWORD) or --docker-config DIR"
	case e.Realm != "":
		return fmt.Sprintf("check the credentials for %s (%s): docker login %s, or --auth-file FILE", hostOf(e.Server), e.Source, hostOf(e.Server))
	}
	return fmt.Sprintf("the account needs %s access to the repository on the token server; log in as a user who has it", strings.Join(e.Access, ","))
}

func hostOf(server string) string {
	h := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	h, _, _ = strings.Cut(h, "/")
	return h
}
