package pivsim

import "github.com/keyrite/keyrite/internal/bertlv"

// The card's names for the BER-TLV helpers.
type tlv = bertlv.TLV

var (
	parseTLVs = bertlv.Parse
	find      = bertlv.Find
	enc       = bertlv.Encode
	cat       = bertlv.Cat
)
