package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

const scalerUsage = `Usage:
  arena scaler status             the cloud machines Arena manages, and its recent decisions
  arena scaler policy             each region's scaling policy

Flags:
  --server URL         control plane (env ARENA_SERVER; default http://127.0.0.1:8080)
  --token TOKEN        a token with the operator scope (env ARENA_TOKEN)
  -o table|json|yaml   output format (default table)
`

// scalerCommands are the words of arena scaler.
var scalerCommands = []subcommand{
	{name: "status"},
	{name: "policy"},
}

func runScaler(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("arena scaler", stdout, scalerUsage)
	server := fs.String("server", "", "")
	token := fs.String("token", "", "")
	output := outputFlag(fs, "json", "yaml")
	cmd, _, err := parseCommand(fs, args, scalerCommands)
	if err != nil {
		return err
	}
	st, err := newAPIClient(*server, *token).Nodes().Scaler(ctx)
	if err != nil {
		return err
	}
	return output.print(stdout, st.Raw(), func(tw *tabwriter.Writer) error {
		if cmd == "policy" {
			fmt.Fprintln(tw, "REGION\tBUFFER\tNODES\tMAX COST/H\tIDLE\tOFFERS")
			for _, p := range st.Policies {
				buffer := fmt.Sprintf("%d×%s", p.Buffer.Sessions, p.Buffer.Application)
				if p.Buffer.Sessions == 0 {
					buffer = fmt.Sprintf("%dm/%dMi", p.Buffer.Resources.MilliCPU, p.Buffer.Resources.MemoryMB)
				}
				offers := ""
				for i, o := range p.Offers {
					if i > 0 {
						offers += ", "
					}
					offers += fmt.Sprintf("%s:%s@%s (%.3f/h)", o.Provider, o.InstanceType, o.Region, o.CostPerHour)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d-%d\t%s\t%s\t%s\n", p.Region, buffer, p.MinNodes, p.MaxNodes, cell(p.MaxCostPerHour),
					time.Duration(p.IdleTimeoutSeconds*float64(time.Second)), offers)
			}
			return nil
		}
		fmt.Fprintln(tw, "NODE\tREGION\tPROVIDER\tTYPE\tSTATE\tCOST/H\tREASON")
		for _, m := range st.Machines {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.3f\t%s\n", m.Node, m.Region, m.Provider, cell(m.InstanceType), m.State, m.CostPerHour, cell(m.Reason))
		}
		fmt.Fprintf(tw, "\nCOST/H\t%.3f\n", st.CostPerHour)
		fmt.Fprintln(tw, "\nAT\tREGION\tDECISION\tNODE\tPROVIDER\tREASON")
		for _, d := range st.Decisions {
			reason := d.Reason
			if d.Error != "" {
				reason += " — failed: " + d.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.At, cell(d.Region), d.Kind, cell(d.Node), cell(d.Provider), reason)
		}
		return nil
	})
}
