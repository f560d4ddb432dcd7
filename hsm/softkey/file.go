package softkey

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/fsutil"
)

const fileFormat = "keyrite-softkey/v1"

// tokenFile is the plaintext inside the age encryption.
type tokenFile struct {
	Format  string    `json:"format"`
	Serial  string    `json:"serial"`
	Created time.Time `json:"created"`
	Keys    []*entry  `json:"keys"`
}

type entry struct {
	Label     string    `json:"label"`
	ID        string    `json:"id"`
	Algorithm string    `json:"algorithm"`
	Origin    string    `json:"origin"`
	Created   time.Time `json:"created"`
	PKCS8     []byte    `json:"pkcs8"`
}

func (f *tokenFile) find(label, id string) *entry {
	for _, e := range f.Keys {
		if (label == "" || e.Label == label) && (id == "" || e.ID == id) {
			return e
		}
	}
	return nil
}

func encryptFile(f *tokenFile, pass []byte, workFactor int) ([]byte, error) {
	plain, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	defer hsm.Wipe(plain)
	r, err := age.NewScryptRecipient(string(pass))
	if err != nil {
		return nil, err
	}
	if workFactor > 0 {
		r.SetWorkFactor(workFactor)
	}
	var out bytes.Buffer
	w, err := age.Encrypt(&out, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func decryptFile(enc, pass []byte) (*tokenFile, error) {
	id, err := age.NewScryptIdentity(string(pass))
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(bytes.NewReader(enc), id)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, &hsm.AuthError{Retries: -1, What: "passphrase"}
		}
		return nil, fmt.Errorf("softkey: not a softkey file or damaged: %w", err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("softkey: damaged file: %w", err)
	}
	defer hsm.Wipe(plain)
	var f tokenFile
	if err := json.Unmarshal(plain, &f); err != nil || f.Format != fileFormat {
		return nil, errors.New("softkey: the file decrypts but is not a softkey file")
	}
	return &f, nil
}

// writeTokenFile writes the encrypted token 0600, atomically; a new token
// never replaces an existing file.
func writeTokenFile(path string, enc []byte, replace bool) error {
	if err := fsutil.WriteFile(path, enc, 0o600, replace); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s appeared while the token was being created: %w", path, hsm.ErrExists)
		}
		return err
	}
	return nil
}

// fileWorkFactor reads the scrypt work factor from an age file's header:
// its one stanza is "-> scrypt SALT LOG2N".
func fileWorkFactor(enc []byte) (int, bool) {
	lines := bytes.SplitN(enc, []byte("\n"), 3)
	if len(lines) < 3 || string(lines[0]) != "age-encryption.org/v1" {
		return 0, false
	}
	f := strings.Fields(string(lines[1]))
	if len(f) != 4 || f[0] != "->" || f[1] != "scrypt" {
		return 0, false
	}
	n, err := strconv.Atoi(f[3])
	if err != nil || n < 1 || n > 30 {
		return 0, false
	}
	return n, true
}
