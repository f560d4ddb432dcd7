package bundle

import (
	"strings"
	"testing"

	"github.com/keyrite/keyrite/internal/testenv"
	"github.com/theupdateframework/notary/tuf/data"
)

func variants(t *testing.T) []testenv.ServerKeyVariant {
	vs, err := testenv.ServerKeyVariants()
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestParseServerKey(t *testing.T) {
	for _, v := range variants(t) {
		t.Run(v.Name, func(t *testing.T) {
			k, err := ParseServerKey(v.File)
			if v.Reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				want, _ := data.UnmarshalPublicKey(v.File)
				if k.ID() != want.ID() || k.Algorithm() != want.Algorithm() {
					t.Errorf("key %s %s, notary reads %s %s", k.Algorithm(), k.ID(), want.Algorithm(), want.ID())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), v.Reason) {
				t.Fatalf("err = %v, want %q", err, v.Reason)
			}
			if strings.Contains(v.Name, "private") && strings.Contains(err.Error(), "private\":\"") {
				t.Errorf("the error repeats the private key: %v", err)
			}
		})
	}
}

// A request bundle whose server key is refused is refused whole when it is
// read, with the GUN and the role named.
func TestReadRequestRefusesServerKey(t *testing.T) {
	vs := variants(t)
	info := []byte(`{"format":"keyrite-request/v1","server":"https://notary.example","fetched_at":"2026-01-01T00:00:00Z","repos":[{"gun":"example.com/app","exists":false,"root_version":0,"metadata":null}]}`)
	dir := t.TempDir() + "/req"
	if err := Write(dir, KindRequest, Files{RequestInfoName: info, RepoFile("example.com/app", "timestamp.key"): vs[0].File,
		RepoFile("example.com/app", "snapshot.key"): vs[3].File}); err != nil {
		t.Fatal(err)
	}
	_, err := ReadRequest(dir)
	want := "bundle " + dir + ": example.com/app: the server's snapshot key (repos/example.com/app/_trust/snapshot.key) carries a private key"
	if _, ok := err.(*ServerKeyError); !ok || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

// One key served for two GUNs, or for both roles of one, was copied.
func TestReadRequestRefusesAKeyServedTwice(t *testing.T) {
	vs := variants(t)
	info := []byte(`{"format":"keyrite-request/v1","server":"https://notary.example","fetched_at":"2026-01-01T00:00:00Z","repos":[` +
		`{"gun":"example.com/app","exists":false,"root_version":0,"metadata":null},{"gun":"example.com/web","exists":false,"root_version":0,"metadata":null}]}`)
	for name, keys := range map[string][4][]byte{
		"two GUNs":  {vs[0].File, vs[1].File, vs[0].File, vs[1].File},
		"two roles": {vs[0].File, vs[0].File, vs[1].File, vs[2].File},
	} {
		dir := t.TempDir() + "/req"
		if err := Write(dir, KindRequest, Files{RequestInfoName: info,
			RepoFile("example.com/app", "timestamp.key"): keys[0], RepoFile("example.com/app", "snapshot.key"): keys[1],
			RepoFile("example.com/web", "timestamp.key"): keys[2], RepoFile("example.com/web", "snapshot.key"): keys[3]}); err != nil {
			t.Fatal(err)
		}
		_, err := ReadRequest(dir)
		if _, ok := err.(*ServerKeyError); !ok || !strings.Contains(err.Error(), "is the same key as example.com/app's timestamp key") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
