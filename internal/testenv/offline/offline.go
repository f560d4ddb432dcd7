// Package offline writes what tests need from a notary-server without one:
// a request bundle for new repositories, with server keys made here (the
// offline side never talks to a server). It sits apart from testenv so
// that bundle's own tests, which use testenv, can be imported by it.
package offline

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/theupdateframework/notary/tuf/data"
)

// Server is the server such a request bundle names.
const Server = "https://notary.example:4443"

// NewRequest writes at dir a request bundle for GUNs the server does not
// have yet, each with an Ed25519 timestamp and snapshot key, as the
// in-process rehearsal server makes them.
func NewRequest(dir string, fetchedAt time.Time, guns ...string) error {
	info := bundle.RequestInfo{Format: "keyrite-request/v1", Server: Server, FetchedAt: fetchedAt.UTC()}
	files := bundle.Files{}
	for _, gun := range guns {
		info.Repos = append(info.Repos, bundle.RequestRepo{GUN: gun})
		for _, role := range []string{"timestamp", "snapshot"} {
			pub, _, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			kb, err := json.Marshal(data.NewED25519PublicKey(pub))
			if err != nil {
				return err
			}
			files[bundle.RepoFile(gun, role+".key")] = kb
		}
	}
	ib, err := json.Marshal(info)
	if err != nil {
		return err
	}
	files[bundle.RequestInfoName] = ib
	return bundle.Write(dir, bundle.KindRequest, files)
}
