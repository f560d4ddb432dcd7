package plan

import _ "embed"

// Example is a commented example plan: a backed-up root key for two
// tokens and three custodians, two new repositories, and the share
// sheets. examples/ceremony.yaml is the same file.
//
//go:embed example.yaml
var Example string
