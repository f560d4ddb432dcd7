package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/plan"
	"github.com/keyrite/keyrite/ceremony/run"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/airgap"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/internal/term"
	"github.com/keyrite/keyrite/recovery"
)

func newCeremonyCmd(a *App) *cobra.Command {
	return group(&cobra.Command{Use: "ceremony", Short: "Plan, check and run a ceremony from a plan file, or its rehearsal on software tokens",
		Long: `A ceremony plan (YAML) names the ceremony, its operators and witnesses, whether
an air gap is required, the devices (by YubiKey serial, PKCS#11 token label or
URI, never a PIN) and the ordered steps. keyrite ceremony plan writes a
commented example; check validates a plan and prints it with its SHA-256 in
PGP words to read aloud; run performs it, one PIN entry per device, with a
typed confirmation before every irreversible step; rehearse runs it on
software tokens.`},
		newCeremonyPlanCmd(a), newCeremonyCheckCmd(a), newCeremonyRunCmd(a), newCeremonyRehearseCmd(a))
}

func newCeremonyPlanCmd(a *App) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "plan [-o FILE]",
		Short: "Write a commented example ceremony plan",
		Example: `  keyrite ceremony plan -o ceremony.yaml
  keyrite ceremony plan > ceremony.yaml`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				_, err := fmt.Fprint(a.Stdout, plan.Example)
				return err
			}
			if err := fsutil.WriteFile(out, []byte(plan.Example), 0o644, false); err != nil {
				if errors.Is(err, os.ErrExist) {
					return &fsutil.ExistsError{Path: out, What: "sheet"}
				}
				return err
			}
			fmt.Fprintf(a.Stdout, "wrote the example plan %s: edit it, then keyrite ceremony check %s\n", out, out)
			return nil
		},
	}
	c.Flags().StringVarP(&out, "out", "o", "", "file to create (default: standard output)")
	return c
}

func newCeremonyCheckCmd(a *App) *cobra.Command {
	var (
		request   string
		noDevices bool
		asJSON    bool
	)
	c := &cobra.Command{
		Use:   "check PLAN [--in request/] [--no-devices]",
		Short: "Validate a plan against the devices and request bundle at hand, and print it to be read aloud",
		Long: `Parse the plan strictly, refuse any secret in it, check every step, then look
for every device it names among those attached (no PIN is asked; --no-devices
skips this, to review a plan away from the room) and, with --in, check that
the request bundle carries every repository each step needs (new for init,
existing for the others). Prints the plan's summary and its SHA-256 in hex and
in PGP words: read them aloud, and compare them with the copy the witnesses
hold.`,
		Example: `  keyrite ceremony check ceremony.yaml --in request/
  keyrite ceremony check ceremony.yaml --no-devices`,
		Args: exactArgs(1, "one plan file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := plan.Read(args[0])
			if err != nil {
				return err
			}
			report := map[string]any{"ceremony": p.Ceremony, "plan": p.File, "plan_sha256": p.SHA256, "plan_words": p.Words(), "plan_summary": p.Summary()}
			var devErr error
			if !noDevices {
				st, err := run.CheckDevices(cmd.Context(), a.env(), p)
				var absent *run.AbsentError
				if err != nil && !errors.As(err, &absent) {
					return err
				}
				devErr = err
				report["devices"] = st
			}
			var reqErr error
			if request != "" {
				reqErr = checkRequest(p, request)
				report["request"] = request
			}
			if asJSON {
				// With --json a failure is one object, carrying the report.
				if reqErr != nil {
					return withReport(reqErr, report)
				}
				if devErr != nil {
					return withReport(devErr, report)
				}
				return a.printJSON(report)
			} else {
				fmt.Fprint(a.Stdout, p.Summary())
				if st, ok := report["devices"].([]run.DeviceStatus); ok {
					for _, d := range st {
						state := "attached: " + d.Found
						if !d.Attached {
							state = "NOT ATTACHED"
						}
						if d.Note != "" {
							state += " (" + d.Note + ")"
						}
						fmt.Fprintf(a.Stdout, "device %s: %s\n", d.Name, state)
					}
				} else {
					fmt.Fprintln(a.Stdout, "devices: not checked (--no-devices)")
				}
				if request != "" && reqErr == nil {
					fmt.Fprintf(a.Stdout, "request bundle %s: carries every repository the steps need\n", request)
				}
			}
			if reqErr != nil {
				return reqErr
			}
			return devErr
		},
	}
	c.Flags().StringVar(&request, "in", "", "request bundle the run will read (keyrite fetch)")
	c.Flags().BoolVar(&noDevices, "no-devices", false, "do not look for the plan's devices (reviewing a plan away from the room)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// RequestMismatchError is a request bundle that lacks what a step needs.
type RequestMismatchError struct{ Problems []string }

func (e *RequestMismatchError) Error() string {
	return "the request bundle does not fit the plan: " + strings.Join(e.Problems, "; ")
}

// checkRequest checks that a request bundle carries every repository the
// plan's steps need: new ones for init, existing ones for the others.
func checkRequest(p *plan.Plan, dir string) error {
	req, err := bundle.ReadRequest(dir)
	if err != nil {
		return err
	}
	var probs []string
	for i, s := range p.Steps {
		for _, g := range p.GUNs(i + 1) {
			r, ok := req.Repo(g)
			switch {
			case !ok:
				probs = append(probs, fmt.Sprintf("step %d: %s is not in it", i+1, g))
			case s.Init != nil && r.Exists:
				probs = append(probs, fmt.Sprintf("step %d: %s exists on the server already (root version %d)", i+1, g, r.RootVersion))
			case s.Init == nil && !r.Exists:
				probs = append(probs, fmt.Sprintf("step %d: %s does not exist on the server", i+1, g))
			}
		}
	}
	if len(probs) > 0 {
		return &RequestMismatchError{Problems: probs}
	}
	return nil
}

// ceremonyFlags are run's and rehearse's.
type ceremonyFlags struct {
	request, out string
	pukFile      string
	resume, yes  bool
	asJSON       bool
}

func (f *ceremonyFlags) add(c *cobra.Command, outHelp string) {
	c.Flags().StringVar(&f.request, "in", "", "request bundle made by keyrite fetch, for the steps that sign repositories")
	c.Flags().StringVarP(&f.out, "out", "o", "", outHelp)
	c.Flags().BoolVar(&f.resume, "resume", false, "continue the run in -o from its first step not done (the steps done are verified, not redone)")
	c.Flags().BoolVar(&f.yes, "yes", false, "answer every confirmation yes: rehearsals only")
	c.Flags().BoolVar(&f.asJSON, "json", false, "print JSON")
	c.Flags().StringVar(&f.pukFile, "puk-file", "", "provision steps: read the new PUK from this file (mode 0600) instead of the terminal; --pin-file gives the new PIN")
}

func newCeremonyRunCmd(a *App) *cobra.Command {
	var f ceremonyFlags
	c := &cobra.Command{
		Use:   "run PLAN --in request/ -o out/ [--resume]",
		Short: "Perform a ceremony plan: every step in order, one PIN entry per device",
		Long: `Perform the plan's steps in order, in one process: each device's PIN is asked
once for the whole run. Each step calls the same operation as its command and
writes under out/NN-action/ (signed bundles in signed/, backups in backup/,
share sheets, a result.json). Before each irreversible step (key generation,
every signature over root, key destruction) keyrite shows exactly what will
change, per repository: root keys added and removed with their IDs and PGP
words, thresholds, versions, expiries, targets keys and delegations; type yes
to go on (the first two words of each key ID to destroy keys). Anything else
stops the run with nothing done for that step.

out/run.jsonl is the run's hash-chained record: the plan's SHA-256, each
step's start, confirmation, and end with the SHA-256 of every file it wrote.
Every step's transcript records plan_sha256 and plan_step. A failed or refused
step leaves the earlier steps' outputs intact and recorded; --resume verifies
them and goes on from the failed step (whose partial outputs, if any, are
kept aside in out/NN-action.failed-N). With airgap: required in the plan,
the run refuses to start on a machine with a network up (see --require-airgap).`,
		Example: `  keyrite ceremony run ceremony.yaml --in request/ -o out/
  keyrite ceremony run ceremony.yaml --in request/ -o out/ --resume`,
		Args: exactArgs(1, "one plan file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.out == "" {
				return usagef(cmd, "-o is required")
			}
			if f.yes {
				return usagef(cmd, "--yes answers confirmations only in a rehearsal (keyrite ceremony rehearse); a ceremony's are typed")
			}
			p, err := plan.Read(args[0])
			if err != nil {
				return err
			}
			if need := p.NeedsRequest(); len(need) > 0 && f.request == "" {
				return usagef(cmd, "--in is required: step %s signs repositories from a request bundle (keyrite fetch)", strings.Trim(fmt.Sprint(need), "[]"))
			}
			if p.Airgap == plan.AirgapRequired {
				if err := a.requireAirgap(); err != nil {
					return err
				}
			}
			env := a.env()
			if _, err := run.CheckDevices(cmd.Context(), env, p); err != nil {
				return err
			}
			// A resumed run's earlier steps made their keys already.
			if !f.resume {
				if err := run.CheckCapacity(cmd.Context(), env, p); err != nil {
					return err
				}
			}
			res, err := run.Run(cmd.Context(), env, a.runOptions(cmd, p, f))
			return a.reportRun(args[0], f, res, err)
		},
	}
	f.add(c, "output directory to create (with --resume: the run's directory)")
	return c
}

func newCeremonyRehearseCmd(a *App) *cobra.Command {
	var f ceremonyFlags
	c := &cobra.Command{
		Use:   "rehearse PLAN -o out/ [--in request/] [--yes]",
		Short: "Rehearse a ceremony plan on software tokens",
		Long: `Run the plan as keyrite ceremony run does, with every device replaced by a
software token (one file per device under out/rehearsal/devices/; YubiKeys
too: attestation and provisioning are not rehearsed), custodians and
witnesses replaced by generated identities (out/rehearsal/custodians/,
witnesses/), and a trust store of its own. Without --in, a simulated server
stands in between steps: each step reads a request bundle as the server
would serve it after the earlier steps' bundles were published, and
repositories the plan changes but does not create are made first. Every
output is marked a rehearsal (bundle.json "rehearsal": true), and nothing
rehearsed can be published to a server other than one on this machine.
Confirmations are typed as in a ceremony, or answered by --yes.`,
		Example: `  keyrite ceremony rehearse ceremony.yaml -o rehearsal/ --yes
  keyrite ceremony rehearse ceremony.yaml -o rehearsal/`,
		Args: exactArgs(1, "one plan file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.out == "" {
				return usagef(cmd, "-o is required")
			}
			p, err := plan.Read(args[0])
			if err != nil {
				return err
			}
			o := a.runOptions(cmd, p, f)
			o.Yes = f.yes
			a.useGeneratedPassphraseTokens()
			res, err := run.Rehearse(cmd.Context(), a.env(), o)
			return a.reportRun(args[0], f, res, err)
		},
	}
	f.add(c, "output directory to create (with --resume: the rehearsal's directory)")
	return c
}

// runOptions are a run's options from the command line: the prompts for
// passphrases, new PINs and shares, and narration on stderr.
func (a *App) runOptions(cmd *cobra.Command, p *plan.Plan, f ceremonyFlags) run.Options {
	ctx := cmd.Context()
	pf := &passphraseFiles{byName: map[string]string{}}
	prompt := &term.PINSource{}
	secret := func(file, kind string) func(string) ([]byte, error) {
		return func(device string) ([]byte, error) {
			if file != "" {
				return term.ReadSecretFile(file)
			}
			return prompt.PIN(ctx, term.Request{Device: device, Kind: kind, Confirm: true})
		}
	}
	return run.Options{Plan: p, Request: f.request, Out: f.out, Resume: f.resume,
		NewPassphrase: a.newPassphrase(ctx, pf), PluginUI: a.pluginUI(),
		ShareInputs: func(in recovery.ShareInputs) recovery.ShareInputs {
			in.Passphrase = a.sharePassphrase(ctx, pf)
			in.PluginUI = a.pluginUI()
			return in
		},
		NewPIN: secret(a.plainPINFile(), "new PIN (6-8 characters)"), NewPUK: secret(f.pukFile, "new PUK (6-8 characters)"),
		Say: func(text string) {
			if f.asJSON {
				return
			}
			for _, l := range strings.Split(text, "\n") {
				fmt.Fprintf(a.Stderr, "keyrite: %s\n", l)
			}
		}}
}

// reportRun prints what a run did; a failed step also says how to resume.
func (a *App) reportRun(planFile string, f ceremonyFlags, res *run.Result, err error) error {
	var se *run.StepError
	if f.asJSON && err != nil && res != nil {
		// One JSON object: the failure, with what the run did.
		return withReport(err, res)
	}
	if res != nil && (err == nil || errors.As(err, &se)) {
		if f.asJSON {
			if jerr := a.printJSON(res); jerr != nil {
				return jerr
			}
		} else {
			for _, s := range res.Steps {
				line := fmt.Sprintf("step %d %s: %s", s.Step, s.Kind, s.Status)
				if s.Dir != "" && len(s.Outputs) > 0 {
					line += fmt.Sprintf(" -> %s (%d files)", s.Dir, len(s.Outputs))
				}
				if s.Note != "" {
					line += " (" + s.Note + ")"
				}
				fmt.Fprintln(a.Stdout, line)
			}
			state := "complete"
			if err != nil {
				state = "stopped"
			}
			fmt.Fprintf(a.Stdout, "ceremony %s %s in %s (plan SHA-256 %s, record %s)\n", res.Ceremony, state, res.Out, res.PlanSHA256, run.RecordName)
			if res.Rehearsal {
				fmt.Fprintf(a.Stdout, "(%s)\n", hsm.SoftwareLabel)
			}
		}
		a.warnSoftware(res.Rehearsal && !f.asJSON)
	}
	if se != nil && !f.asJSON {
		verb := "run"
		if res != nil && res.Rehearsal {
			verb = "rehearse"
		}
		in := ""
		if f.request != "" {
			in = " --in " + f.request
		}
		fmt.Fprintf(a.Stderr, "keyrite: step %d stopped the run: the steps before it are done and recorded in %s/%s; once the cause is fixed: keyrite ceremony %s %s%s -o %s --resume\n",
			se.Step, f.out, run.RecordName, verb, planFile, in, f.out)
	}
	return err
}

// ceremonyHint covers plans, runs and the air gap.
func ceremonyHint(err error) (int, string, bool) {
	var (
		pe     *plan.Error
		secret *plan.SecretError
		gap    *airgap.Error
		absent *run.AbsentError
		resume *run.ResumeError
		reqmis *RequestMismatchError
		rehsrv *ceremony.RehearsalServerError
	)
	switch {
	case errors.As(err, &secret):
		return exitUsage, "remove it from the plan: PINs and passphrases are asked at the ceremony or read from --pin-file; and treat the secret as exposed: change it", true
	case errors.As(err, &pe):
		return exitUsage, "fix the plan at the lines shown (keyrite ceremony plan writes a commented example); nothing was done", true
	case errors.As(err, &gap):
		return exitFailed, "take this machine off every network before the ceremony: unplug cables, disable wireless and Bluetooth (or remove their hardware), bring interfaces down and delete the default routes; nothing was done", true
	case errors.As(err, &absent):
		return exitDevice, "attach the devices the plan names (keyrite device list shows what is attached), or fix the plan; nothing was done", true
	case errors.As(err, &resume):
		return exitFailed, "resume with the same plan and output directory; a record that does not verify means the outputs were changed: start a new run in a new directory", true
	case errors.As(err, &rehsrv):
		return exitFailed, "nothing was uploaded: a rehearsal goes to a notary-server on this machine (127.0.0.1, localhost, [::1]); a real server gets bundles signed with hardware", true
	case errors.As(err, &reqmis):
		return exitFailed, "fetch a request bundle with every repository of the plan: keyrite fetch --server URL -o NEW_DIR GUN...", true
	}
	return 0, "", false
}

// requireAirgap refuses to go on unless the machine is air-gapped, and
// records what was seen in every transcript of the command.
func (a *App) requireAirgap() error {
	if a.airgap != nil {
		return nil
	}
	rep, err := airgap.Require()
	if err != nil {
		return err
	}
	a.airgap = rep
	return nil
}

// checkAirgapFlag is the root's pre-run: --require-airgap refuses to start
// on a machine with a network up.
func (a *App) checkAirgapFlag(c *cobra.Command) error {
	if !a.RequireAirgap {
		return nil
	}
	// A command with --server talks to one (fetch, publish, status,
	// diff): an air gap cannot be required there.
	if c.Flags().Lookup("server") != nil {
		return usagef(c, "--require-airgap is for offline commands; %s talks to a server", c.Name())
	}
	return a.requireAirgap()
}

// airgapStart is what every transcript records of the air-gap check.
func (a *App) airgapStart() map[string]any {
	if a.airgap == nil {
		return nil
	}
	return map[string]any{"airgap": map[string]any{"required": true, "checked": a.airgap}}
}
