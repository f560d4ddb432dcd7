package backup

import (
	"testing"
)

// TestCheckRefusesOtherRecipient: Check proves each file is encrypted to
// its custodian: a file swapped for another custodian's is refused even
// though it is a valid share.
func TestCheckRefusesOtherRecipient(t *testing.T) {
	ps := parties(t, 2)
	b := makeBackup(t, newKey(t), ps, 1)
	n0, n1 := ShareFileName(ps[0].c.Name), ShareFileName(ps[1].c.Name)
	swapped := map[string][]byte{RecordName: b.Files[RecordName], n0: b.Files[n1], n1: b.Files[n0]}
	_, err := b.Check(func(name string) ([]byte, error) { return swapped[name], nil })
	if err == nil {
		t.Fatal("Check accepted swapped files")
	}
	// Same bytes re-encrypted to someone else under the right name.
	b2 := makeBackup(t, newKey(t), ps, 1)
	other := map[string][]byte{RecordName: b.Files[RecordName], n0: b2.Files[n0], n1: b.Files[n1]}
	if _, err := b.Check(func(name string) ([]byte, error) { return other[name], nil }); err == nil {
		t.Fatal("Check accepted a share of another backup")
	}
}
