package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/recovery"
)

func newBackupCmd(a *App) *cobra.Command {
	return group(&cobra.Command{Use: "backup", Short: "Check and print the M-of-N backups of backed-up keys"},
		newBackupVerifyCmd(a), newBackupPrintCmd(a))
}

func newBackupVerifyCmd(a *App) *cobra.Command {
	var (
		sf     shareFlags
		o      recovery.BackupOptions
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "verify --identity FILE... SHARE...",
		Short: "Prove that custodians' shares restore their key; writes nothing",
		Long: `The custodians present their identities; keyrite decrypts their shares,
recombines the key in memory, checks it against the public key every share
records (and against backup.json with --record, and the root keys of
root.json files with --root), reports, and wipes the key. Nothing is written.
A share may be the file keyrite wrote, its armored text typed in, or the text
decoded from its paper sheet's QR codes.`,
		Example: `  keyrite backup verify -i alice.key -i bob.key backup/alice.share.age backup/bob.share.age
  keyrite backup verify -i carol.key --passphrase-file dave=dave.pass --record backup/backup.json \
      --root signed/repos/example.com/app/_trust/root.json carol.share.age dave.share.age`,
		Args: minArgs(1, "share files"),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := sf.inputs(a, cmd, args)
			if err != nil {
				return err
			}
			o.ShareInputs = in
			rep, err := recovery.VerifyBackup(o)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(rep)
			}
			fmt.Fprintf(a.Stdout, "OK: %d shares of key %s restore it (threshold %d of %d); nothing was written\n",
				len(rep.Shares), rep.KeyID, rep.Threshold, rep.Total)
			a.printWords(rep.KeyID)
			var used []string
			for _, s := range rep.Shares {
				used = append(used, fmt.Sprintf("%d (%s)", s.Share, s.Custodian))
			}
			fmt.Fprintf(a.Stdout, "  shares:   %s\n  label:    %s, %s\n", strings.Join(used, ", "), rep.Label, rep.Algorithm)
			if rep.RecordChecked {
				fmt.Fprintf(a.Stdout, "  record:   %s names the same key\n", o.Record)
			}
			for _, r := range rep.Roots {
				fmt.Fprintf(a.Stdout, "  root:     %s: root key %s (%s)\n", r.File, r.KeyID, r.CommonName)
			}
			return nil
		},
	}
	sf.add(c)
	c.Flags().StringVar(&o.Record, "record", "", "backup.json to check the key against")
	c.Flags().StringArrayVar(&o.Roots, "root", nil, "root.json whose root keys must include the key (repeat)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newBackupPrintCmd(a *App) *cobra.Command {
	var (
		out    string
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "print SHARE -o SHEET.pdf",
		Short: "Render a share as a printable sheet: QR codes, text, key ID words, restore steps",
		Long: `Writes a PDF (mode 0600, never over an existing file) for one share: what it
is, the key ID as words to read aloud, the share's text as QR codes and as
text to type, and how to restore it. The share stays encrypted to its
custodian on paper as on disk.`,
		Example: `  keyrite backup print backup/alice.share.age -o alice-share.pdf`,
		Args:    exactArgs(1, "one share file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef(cmd, "-o is required")
			}
			res, err := ceremony.PrintShare(args[0], out)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.Stdout, "wrote %s: share %d of key %s, custodian %s, %d QR code(s)\n", res.Out, res.Share, res.KeyID, res.Custodian, res.QRCodes)
			return nil
		},
	}
	c.Flags().StringVarP(&out, "out", "o", "", "PDF file to create")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
