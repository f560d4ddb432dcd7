package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/keyrite/keyrite/hsm"
	"github.com/spf13/cobra"
)

func newDeviceCmd(a *App) *cobra.Command {
	return group(&cobra.Command{Use: "device", Short: "Find the devices that can hold keys, and provision YubiKeys"}, newDeviceListCmd(a), newDeviceProvisionCmd(a))
}

func newDeviceListCmd(a *App) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List PKCS#11 tokens and YubiKeys with labels, serials and firmware",
		Example: `  keyrite device list
  keyrite device list --module /usr/lib/softhsm/libsofthsm2.so --json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			devs, errs := a.registry.Devices(cmd.Context(), a.env().HSM)
			if asJSON {
				type out struct {
					Devices []hsm.DeviceInfo  `json:"devices"`
					Errors  map[string]string `json:"errors,omitempty"`
				}
				o := out{Devices: devs, Errors: map[string]string{}}
				for k, v := range errs {
					o.Errors[k] = v.Error()
				}
				if o.Devices == nil {
					o.Devices = []hsm.DeviceInfo{}
				}
				return a.printJSON(o)
			}
			w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KIND\tLABEL\tSERIAL\tMODEL\tFIRMWARE\tURI")
			for _, d := range devs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Kind, d.Label, d.Serial, d.Model, d.Firmware, d.URI)
			}
			w.Flush()
			var kinds []string
			for k := range errs {
				kinds = append(kinds, k)
			}
			sort.Strings(kinds)
			for _, k := range kinds {
				fmt.Fprintf(a.Stderr, "keyrite: warning: %s: %v\n", k, errs[k])
				var hinted *hsm.HintError
				if errors.As(errs[k], &hinted) {
					fmt.Fprintf(a.Stderr, "keyrite: hint: %s\n", hinted.Hint)
				}
			}
			if len(devs) == 0 {
				fmt.Fprintln(a.Stderr, "keyrite: no device found; the software rehearsal token needs none: softkey:file=PATH")
			}
			for _, d := range devs {
				for _, warn := range d.Warnings {
					fmt.Fprintf(a.Stderr, "keyrite: warning: %s %s: %s\n", d.Kind, strings.TrimSpace(d.Label), warn)
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
