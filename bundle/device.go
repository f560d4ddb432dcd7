package bundle

// Device is a device as transcripts and attestation records name it.
type Device struct {
	URI      string `json:"uri"`
	Kind     string `json:"kind"`
	Label    string `json:"label,omitempty"`
	Serial   string `json:"serial,omitempty"`
	Model    string `json:"model,omitempty"`
	Firmware string `json:"firmware,omitempty"`
	Software bool   `json:"software,omitempty"`
}
