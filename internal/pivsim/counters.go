package pivsim

// Counters are what the card saw, for tests that assert bounds on what a
// command asked of the operator and of the device: touches (as the card's
// touch policy and its 15-second touch cache demand them), PINs presented,
// and commands that would change the card.
type Counters struct {
	Touches     int `json:"touches"`
	PINVerifies int `json:"pin_verifies"` // VERIFY carrying a PIN (not the empty probe)
	WrongPINs   int `json:"wrong_pins"`
	// Writes counts every command APDU that changes the card when it
	// succeeds (generate, import, put data, set management key, change or
	// unblock PIN/PUK, set retries, reset, move or delete key), whether it
	// succeeded or not: a test that wants "nothing was written" wants none
	// of them sent.
	Writes     int `json:"writes"`
	Signatures int `json:"signatures"`
}

// writingINS are the instructions that change a YubiKey's PIV state.
var writingINS = map[byte]string{
	0x47: "GENERATE ASYMMETRIC KEY",
	0xfe: "IMPORT KEY",
	0xdb: "PUT DATA",
	0xff: "SET MANAGEMENT KEY",
	0x24: "CHANGE REFERENCE DATA",
	0x2c: "RESET RETRY COUNTER",
	0xfa: "SET PIN RETRIES",
	0xfb: "RESET",
	0xf6: "MOVE/DELETE KEY", // firmware 5.7
}

// countLocked records one complete command APDU before the card acts on it.
func (c *Card) countLocked(ins, p1 byte, data []byte) {
	if c.applet != appletPIV {
		return
	}
	if _, ok := writingINS[ins]; ok {
		c.writes++
	}
	if ins == 0x20 && p1 != 0xff && len(data) > 0 {
		c.pinVerifies++
	}
}

// Counters returns what the card counted since it was made (or since
// ResetCounters).
func (c *Card) Counters() Counters {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Counters{Touches: c.touches, PINVerifies: c.pinVerifies, WrongPINs: c.wrongPINs, Writes: c.writes,
		Signatures: c.st.Signatures - c.sigBase}
}

// ResetCounters starts counting again from zero.
func (c *Card) ResetCounters() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.touches, c.pinVerifies, c.wrongPINs, c.writes = 0, 0, 0, 0
	c.sigBase = c.st.Signatures
}

// Sub is what happened between two readings of the counters.
func (a Counters) Sub(b Counters) Counters {
	return Counters{Touches: a.Touches - b.Touches, PINVerifies: a.PINVerifies - b.PINVerifies, WrongPINs: a.WrongPINs - b.WrongPINs,
		Writes: a.Writes - b.Writes, Signatures: a.Signatures - b.Signatures}
}
