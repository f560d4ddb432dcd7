package main

import (
	"errors"

	"github.com/keyrite/keyrite/ca"
)

// caHint covers what keyrite ca refuses to sign.
func caHint(err error) (int, string, bool) {
	var (
		weak    *ca.WeakKeyError
		csr     *ca.CSRError
		eku     *ca.LeafEKUError
		rule    *ca.RuleError
		subj    *ca.SubjectError
		pol     *ca.PolicyError
		valid   *ca.ValidityError
		mismtch *ca.KeyMismatchError
	)
	switch {
	case errors.As(err, &weak):
		return exitFailed, "nothing was signed: ask the requester for a new CSR with an ECDSA P-256/P-384 or RSA 3072 key (openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 ...)", true
	case errors.As(err, &eku):
		return exitFailed, "nothing was signed: a Notation signing certificate is for code signing only; ask for a CSR without extended key usages or with codeSigning alone", true
	case errors.As(err, &csr):
		return exitFailed, "nothing was signed: ask the requester for the CSR again (one PEM CERTIFICATE REQUEST, signed by its own key: openssl req -verify -in FILE -noout checks it)", true
	case errors.As(err, &mismtch):
		return exitFailed, "nothing was signed: --ca must name the key of the certificate --ca-cert gives (the CA bundle of ca init for that key)", true
	case errors.As(err, &valid):
		return exitFailed, "nothing was signed: give a shorter --validity, within the CA's own validity", true
	case errors.As(err, &rule):
		return exitVerifyKO, "nothing was signed: the certificate would break the Notary Project's certificate rules; check --ca-cert", true
	case errors.As(err, &subj), errors.As(err, &pol):
		return exitUsage, "nothing was signed or written: correct the flag named and run again (keyrite ca --help)", true
	}
	return 0, "", false
}
