// Package benchtable is scripts/bench: every row of the performance table
// (README, "Performance") measured in one run, each with its baseline
// alongside — raw PKCS#11 work through miekg/pkcs11 on the same SoftHSM,
// bare ECDSA verifications, the notary CLI against the same notary-server —
// and, when scripts/bench is given a base, the keyrite built from it
// ("before") next to this one ("after"). Its only code is the benchmark,
// BenchmarkTable, which drives the keyrite binaries as a user would.
package benchtable
