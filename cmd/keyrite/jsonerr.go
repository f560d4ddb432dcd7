package main

import (
	"errors"
	"fmt"

	"github.com/keyrite/keyrite/internal/cliutil"
	"github.com/spf13/cobra"
)

// reportError is a failure that comes with the command's report (verify's
// per-role findings, for instance): with --json both are printed as one
// object.
type reportError struct {
	err    error
	report any
}

func (e *reportError) Error() string { return e.err.Error() }
func (e *reportError) Unwrap() error { return e.err }

// withReport attaches a report to a failure.
func withReport(err error, report any) error {
	if err == nil {
		return nil
	}
	return &reportError{err: err, report: report}
}

// jsonFailure is what every command prints on stdout when it fails with
// --json: one object.
type jsonFailure struct {
	Error    string `json:"error"`
	Hint     string `json:"hint"`
	ExitCode int    `json:"exit_code"`
	Report   any    `json:"report,omitempty"`
}

// describe is the exit code, message and hint of an error, for both the
// text and the JSON report.
func describe(err error) (code int, msg, hint string) {
	var ue *cliutil.UsageError
	if errors.As(err, &ue) {
		return exitUsage, ue.Err.Error(), fmt.Sprintf("see %s --help", ue.Cmd)
	}
	code, hint = classify(err)
	return code, err.Error(), hint
}

// jsonRequested says whether the command line asked for JSON: the
// command's --json flag, or, when the command line did not parse, a --json
// argument before any "--".
func (a *App) jsonRequested(cmd *cobra.Command, args []string) bool {
	if cmd != nil {
		if f := cmd.Flags().Lookup("json"); f != nil && f.Changed {
			return f.Value.String() == "true"
		}
	}
	for _, arg := range args {
		switch arg {
		case "--":
			return false
		case "--json", "--json=true":
			return true
		}
	}
	return false
}

// reportJSON prints a failure as one JSON object on stdout (the error line
// and hint go to stderr too, for logs) and returns its exit code.
func (a *App) reportJSON(err error) int {
	code, msg, hint := describe(err)
	out := jsonFailure{Error: msg, Hint: hint, ExitCode: code}
	var re *reportError
	if errors.As(err, &re) {
		out.Report = re.report
	}
	if perr := a.printJSON(out); perr != nil {
		fmt.Fprintf(a.Stderr, "keyrite: error: writing the JSON report: %v\n", perr)
	}
	fmt.Fprintf(a.Stderr, "keyrite: error: %s\n", msg)
	if hint != "" {
		fmt.Fprintf(a.Stderr, "keyrite: hint: %s\n", hint)
	}
	return code
}
