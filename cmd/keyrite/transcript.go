package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/keyrite/keyrite/backup"
	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/internal/sshsig"
	"github.com/spf13/cobra"
)

func newTranscriptCmd(a *App) *cobra.Command {
	return group(&cobra.Command{
		Use:   "transcript",
		Short: "Offline: audit, witness and print the sealed record of a ceremony",
		Long: `Every signed bundle and key record carries the ceremony's transcript
(transcript.jsonl, hash-chained, one line per step with its wall time and a
monotonic offset), sealed by the keys that signed in it (seal.json: each key
signs, through its device, the transcript head and the SHA-256 of every file).
Witnesses add SSH signatures of transcript.head that anyone can check with
ssh-keygen -Y verify -n keyrite-transcript.`,
	}, newTranscriptVerifyCmd(a), newTranscriptWitnessCmd(a), newTranscriptPrintCmd(a))
}

// auditFlags are the flags an audit takes.
type auditFlags struct {
	allowed string
	plan    string
}

func (f *auditFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.allowed, "allowed-signers", "", "the witnesses' keys, in ssh-keygen's allowed signers format: every witness signature must be by a key it allows for its name")
	c.Flags().StringVar(&f.plan, "plan", "", "the ceremony plan: its SHA-256 must be the one the transcript recorded")
}

func (f *auditFlags) options(c *cobra.Command) (verify.AuditOptions, error) {
	var o verify.AuditOptions
	if f.allowed != "" {
		s, err := readAllowedSigners(c, f.allowed)
		if err != nil {
			return o, err
		}
		o.Allowed = s
	}
	if f.plan != "" {
		b, err := os.ReadFile(f.plan)
		if err != nil {
			return o, usagef(c, "--plan: %v", err)
		}
		o.Plan = b
	}
	return o, nil
}

func readAllowedSigners(c *cobra.Command, path string) (sshsig.AllowedSigners, error) {
	b, err := readSmallFile(path, sshsig.MaxAllowedSigners)
	if err != nil {
		return nil, usagef(c, "--allowed-signers: %v", err)
	}
	s, err := sshsig.ParseAllowedSigners(b)
	if err != nil {
		return nil, usagef(c, "--allowed-signers %s: %v", path, err)
	}
	if s == nil {
		s = sshsig.AllowedSigners{}
	}
	return s, nil
}

// readSmallFile reads a regular file of at most max bytes.
func readSmallFile(path string, max int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > max {
		return nil, fmt.Errorf("%s is not a regular file of at most %d bytes", path, max)
	}
	return os.ReadFile(path)
}

func newTranscriptVerifyCmd(a *App) *cobra.Command {
	var (
		f      auditFlags
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "verify BUNDLE [--allowed-signers FILE] [--plan FILE]",
		Short: "Offline: check a ceremony's transcript, seal and witnesses, for an auditor who was not there",
		Long: `Verify a signed bundle (everything keyrite verify checks) or a key record,
then report its ceremonies step by step. Checked: the transcript's hash chain
and monotonic offsets; every seal signature (by keys that signed the bundle's
metadata, the root keys of its roots, each verified with its public key) over
the transcript head, each line's hash and each file's SHA-256; that the keys
that sealed are those the last line names; the seals and witnesses of the
ceremonies a transcript continues; every witness signature over
transcript.head, against the witnesses the ceremony declared and, with
--allowed-signers, against the auditor's own file; with --plan, that the plan
is the one the transcript recorded; that bundle.json's rehearsal flag is what
the transcript records. Exit code 4 when anything fails, naming the line, the
file, the seal signature or the witness.`,
		Example: `  keyrite transcript verify signed/
  keyrite transcript verify --allowed-signers witnesses.allowed --plan ceremony.yaml signed-witnessed/
  keyrite transcript verify --json ~/.config/keyrite/records/key-20261201T100000Z-root-2026`,
		Args: exactArgs(1, "one signed bundle or key record"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(cmd)
			if err != nil {
				return err
			}
			o.Options = a.env().VerifyOptions()
			au, err := verify.AuditDir(args[0], a.Now(), o)
			var inc *verify.IncompleteError
			if au != nil && (err == nil || errors.As(err, &inc)) {
				if asJSON {
					if perr := a.printJSON(au); perr != nil {
						return perr
					}
				} else {
					printAudit(a, au)
				}
			}
			return err
		},
	}
	f.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func printAudit(a *App, au *verify.Audit) {
	a.warnSoftware(au.Rehearsal)
	kind := "signed bundle"
	if au.Kind == bundle.KindKeyRecord {
		kind = "key record"
	}
	fmt.Fprintf(a.Stdout, "%s %s: %d transcript lines, %d %s\n", kind, au.Bundle, au.Lines, len(au.Ceremonies),
		map[bool]string{true: "ceremony", false: "ceremonies"}[len(au.Ceremonies) == 1])
	fmt.Fprintf(a.Stdout, "transcript head %s\n", au.TranscriptHead)
	if w, err := backup.Words(au.TranscriptHead); err == nil {
		fmt.Fprintf(a.Stdout, "  words: %s\n", w)
	}
	for i, c := range au.Ceremonies {
		fmt.Fprintf(a.Stdout, "ceremony %d, lines %d-%d: keyrite %s\n", i+1, c.Line, max(c.EndLine, c.Line), strings.Join(c.Args, " "))
		fmt.Fprintf(a.Stdout, "  started %s, %s after %s\n", c.Started.UTC().Format(time.RFC3339), c.Outcome,
			time.Duration(c.DurationUS)*time.Microsecond)
		if k := c.Keyrite; k != nil {
			rev := ""
			if k.Revision != "" {
				rev = " revision " + k.Revision + map[bool]string{true: " (modified tree)"}[k.Dirty]
			}
			fmt.Fprintf(a.Stdout, "  keyrite %s%s, %s\n", k.Version, rev, k.Go)
		}
		if h := c.Host; h != nil {
			up := strings.Join(h.NetworkUp(), "; ")
			if up == "" {
				up = "none"
			}
			fmt.Fprintf(a.Stdout, "  host %s (%s, kernel %s), network up: %s\n", h.Hostname, h.OS, h.Kernel, up)
		}
		for _, d := range c.Devices {
			fmt.Fprintf(a.Stdout, "  device %s %q serial %s%s\n", d.Kind, d.Label, d.Serial, map[bool]string{true: " (software token)"}[d.Software])
		}
		if c.PlanSHA256 != "" {
			fmt.Fprintf(a.Stdout, "  plan sha256 %s\n", c.PlanSHA256)
		}
		for _, s := range c.Steps {
			fmt.Fprintf(a.Stdout, "  %4d  %s  +%9.3fs  %-16s %s\n", s.Line, s.Time.UTC().Format("15:04:05"), float64(s.MonoUS)/1e6, s.Event, s.Summary)
		}
	}
	fmt.Fprintf(a.Stdout, "seal: %d key(s) over %d lines and %d files\n", len(au.Seal.Keys), au.Seal.Lines, au.Seal.Files)
	for _, k := range au.Seal.Keys {
		w, _ := backup.Words(k.KeyID)
		fmt.Fprintf(a.Stdout, "  key %s on %s %q serial %s\n    %s\n", k.KeyID, k.Device.Kind, k.Device.Label, k.Device.Serial, w)
	}
	for _, p := range au.Seal.Prior {
		fmt.Fprintf(a.Stdout, "  earlier seal carried by line %d: head %s, %d key(s)\n", p.Line, p.Head[:16], len(p.Keys))
	}
	for _, w := range au.Witnesses {
		checked := "signature verified, identity not checked (no witnesses declared, no --allowed-signers)"
		switch {
		case w.AllowedAt > 0:
			checked = fmt.Sprintf("allowed by --allowed-signers line %d", w.AllowedAt)
		case w.DeclaredAt > 0:
			checked = fmt.Sprintf("allowed by the witnesses declared at line %d", w.DeclaredAt)
		}
		of := ""
		if w.PriorLine > 0 {
			of = fmt.Sprintf(" (of the ceremony before line %d)", w.PriorLine)
		}
		fmt.Fprintf(a.Stdout, "witness %s%s: %s %s, %s\n", w.Name, of, w.KeyType, w.Fingerprint, checked)
	}
	if au.Plan != nil {
		fmt.Fprintf(a.Stdout, "plan: SHA-256 %s is the plan transcript line %d records\n", au.Plan.SHA256, au.Plan.Line)
	}
	fmt.Fprintf(a.Stdout, "files: %d, every one bound by the seal or its own signature\n", len(au.Files))
	if len(au.Missing) > 0 {
		fmt.Fprintf(a.Stdout, "NOT fully signed yet: %s\n", strings.Join(au.Missing, "; "))
	}
	verdict := "transcript verified"
	if !au.OK {
		verdict = "transcript verified, bundle NOT fully signed"
	}
	fmt.Fprintf(a.Stdout, "%s: chain, seal, %d witness signature(s)%s%s\n", verdict, len(au.Witnesses),
		map[bool]string{true: ", allowed signers"}[au.AllowedSigners], map[bool]string{true: ", plan"}[au.Plan != nil])
}

func newTranscriptWitnessCmd(a *App) *cobra.Command {
	var (
		o       ceremony.WitnessOptions
		sigFile string
		allowed string
		asJSON  bool
	)
	c := &cobra.Command{
		Use:   "witness BUNDLE --name NAME (--signature FILE | --key URI) -o NEW_DIR",
		Short: "Add a witness's SSH signature of a ceremony's transcript head (a new bundle)",
		Long: `A witness signs the file transcript.head of the bundle or key record (the
transcript head in hex and a newline) with their SSH key, on their own machine:

  ssh-keygen -Y sign -n keyrite-transcript -f ~/.ssh/id_ed25519 transcript.head

and brings transcript.head.sig back (--signature), or signs here with a key on
a PKCS#11 token or YubiKey (--key URI; an ECDSA key, signing
ecdsa-sha2-nistp256). keyrite verifies the signature over transcript.head and,
if the ceremony declared witnesses (--witnesses) or --allowed-signers is given,
that the key is allowed for NAME; then writes a NEW bundle with
witnesses/NAME.sig: bundles are never modified in place. Anyone can check it:

  ssh-keygen -Y verify -f allowed_signers -I NAME -n keyrite-transcript \
      -s witnesses/NAME.sig < transcript.head`,
		Example: `  keyrite transcript witness signed/ --name alice@example.com --signature transcript.head.sig -o signed-w1/
  keyrite transcript witness signed-w1/ --name bob@example.com --key 'pkcs11:token=bob;object=witness' -o signed-w2/`,
		Args: exactArgs(1, "one signed bundle or key record"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Name == "" || o.Out == "" {
				return usagef(cmd, "--name and -o are required")
			}
			if err := bundle.CheckWitnessName(o.Name); err != nil {
				return usagef(cmd, "--name: %v", err)
			}
			if (sigFile == "") == (o.Key == "") {
				return usagef(cmd, "give --signature FILE or --key URI")
			}
			if err := checkURIs(cmd, "--key", o.Key); err != nil {
				return err
			}
			if sigFile != "" {
				b, err := readSmallFile(sigFile, sshsig.MaxArmored)
				if err != nil {
					return usagef(cmd, "--signature: %v", err)
				}
				o.Signature = b
			}
			if allowed != "" {
				s, err := readAllowedSigners(cmd, allowed)
				if err != nil {
					return err
				}
				o.Allowed = s
			}
			o.Bundle = args[0]
			res, err := ceremony.Witness(cmd.Context(), a.env(), o)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.Stdout, "witness %s: %s %s signed transcript head %s\nwrote %s (%s)\n", res.Witness.Name, res.Witness.KeyType,
				res.Witness.Fingerprint, res.Witness.Head, res.Out, bundle.WitnessFile(res.Witness.Name))
			return nil
		},
	}
	c.Flags().StringVar(&o.Name, "name", "", "the witness, as the allowed signers name them (e.g. alice@example.com)")
	c.Flags().StringVar(&sigFile, "signature", "", "the witness's signature of transcript.head (ssh-keygen -Y sign -n keyrite-transcript)")
	c.Flags().StringVar(&o.Key, "key", "", "sign here with the witness's key on a device (PKCS#11 or YubiKey URI)")
	c.Flags().StringVarP(&o.Out, "out", "o", "", "the new bundle to write")
	c.Flags().StringVar(&allowed, "allowed-signers", "", "refuse a key this allowed signers file does not allow for --name")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newTranscriptPrintCmd(a *App) *cobra.Command {
	var (
		f      auditFlags
		out    string
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "print BUNDLE -o FILE.pdf",
		Short: "Print a verified ceremony record for the binder (PDF)",
		Long: `Verify the bundle or key record as transcript verify does, then write a PDF:
the ceremonies and each step with its time and outcome, the machine and
devices, key IDs and the transcript head in hex and as PGP words, the seal,
the witnesses, every file with what binds it, and lines for each witness and
the operator to sign.`,
		Example: `  keyrite transcript print signed-w2/ --allowed-signers witnesses.allowed -o ceremony-2026-12.pdf`,
		Args:    exactArgs(1, "one signed bundle or key record"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef(cmd, "-o is required")
			}
			o, err := f.options(cmd)
			if err != nil {
				return err
			}
			res, err := ceremony.PrintTranscript(a.env(), args[0], out, o)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.Stdout, "wrote %s: %d ceremonies, %d witness signature(s), transcript head %s\n", res.Out, res.Ceremonies, res.Witnesses, res.TranscriptHead)
			return nil
		},
	}
	f.register(c)
	c.Flags().StringVarP(&out, "out", "o", "", "the PDF to write (must not exist)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// witnessesFlag reads --witnesses: the ceremony's witnesses, as an allowed
// signers file, read and checked when the flag is parsed.
type witnessesFlag struct {
	path string
	text *[]byte
}

func (w *witnessesFlag) String() string { return w.path }
func (w *witnessesFlag) Type() string   { return "FILE" }
func (w *witnessesFlag) Set(path string) error {
	b, err := readSmallFile(path, sshsig.MaxAllowedSigners)
	if err != nil {
		return err
	}
	if _, err := sshsig.ParseAllowedSigners(b); err != nil {
		return err
	}
	w.path, *w.text = path, b
	return nil
}

// printSeal is verify's line about the seal and the witnesses.
func printSeal(a *App, rep *verify.Report) {
	if rep.Seal == nil {
		return
	}
	var ids []string
	for _, k := range rep.Seal.Keys {
		ids = append(ids, k.KeyID)
	}
	fmt.Fprintf(a.Stdout, "sealed by %d key(s) (%s) over %d transcript lines and %d files", len(ids), shortIDs(ids), rep.Seal.Lines, rep.Seal.Files)
	if n := len(rep.Witnesses); n > 0 {
		var names []string
		for _, w := range rep.Witnesses {
			if w.PriorLine == 0 {
				names = append(names, w.Name)
			}
		}
		fmt.Fprintf(a.Stdout, "; witnessed by %s", strings.Join(names, ", "))
	}
	fmt.Fprintln(a.Stdout)
}
