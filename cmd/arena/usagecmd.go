package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
)

const usageUsage = `Usage:
  arena usage [--from TIME] [--to TIME] [-o table|json|yaml|csv]

Reports the organisation's billed time and cost, grouped by application,
location and resource profile, in the currency the rates are set in. TIME is
RFC 3339 (2026-11-01T00:00:00Z); the period defaults to the 30 days before
now.

Flags:
  --server URL    control plane (env ARENA_SERVER; default http://127.0.0.1:8080)
  --token TOKEN   the organisation's token (env ARENA_TOKEN)
`

func runUsage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("arena usage", stdout, usageUsage)
	server := fs.String("server", "", "")
	token := fs.String("token", "", "")
	from := fs.String("from", "", "")
	to := fs.String("to", "", "")
	output := outputFlag(fs, "json", "yaml", "csv")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	sessions := newAPIClient(*server, *token).Sessions()
	if output.format == "csv" {
		body, err := sessions.UsageCSV(ctx, *from, *to)
		if err != nil {
			return err
		}
		_, err = stdout.Write(body)
		return err
	}
	report, err := sessions.Usage(ctx, *from, *to)
	if err != nil {
		return err
	}
	if output.format == "table" {
		fmt.Fprintf(stdout, "Usage from %s to %s\n", report.From, report.To)
	}
	return output.print(stdout, report.Raw(), func(tw *tabwriter.Writer) error {
		costHead := "COST"
		if report.Currency != "" {
			costHead += " (" + report.Currency + ")"
		}
		// Warm pools' time shows only where there is some, apart from
		// the billed hours.
		pools := func(seconds int64) string { return "" }
		if report.TotalWarmPoolSeconds > 0 {
			costHead += "\tWARM POOL HOURS"
			pools = func(seconds int64) string { return "\t" + hours(seconds) }
		}
		fmt.Fprintln(tw, "APPLICATION\tLOCATION\tPROFILE\tSESSIONS\tHOURS\t"+costHead)
		anyPriced := false
		for _, l := range report.Lines {
			cost := "-"
			if l.Priced {
				cost, anyPriced = money(l.Cost), true
			}
			fmt.Fprintf(tw, "%s\t%s\t%dm/%dMi\t%d\t%s\t%s%s\n", l.Application, l.Location, l.Profile.MilliCPU, l.Profile.MemoryMB,
				l.Sessions, hours(l.Seconds), cost, pools(l.WarmPoolSeconds))
		}
		total := "-"
		if anyPriced {
			total = money(report.TotalCost)
		}
		fmt.Fprintf(tw, "TOTAL\t\t\t\t%s\t%s%s\n", hours(report.TotalSeconds), total, pools(report.TotalWarmPoolSeconds))
		return nil
	})
}

// money shows an amount with two decimals, and a small one with as many
// more as its first two significant digits need: a test session's cost is
// 0.000028, not 0.00.
func money(v float64) string {
	decimals := 2
	if a := math.Abs(v); a > 0 && a < 1 {
		decimals = min(max(2, 1-int(math.Floor(math.Log10(a)))), 8)
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

// hours shows billed seconds as hours, to a hundredth, and a shorter time
// to a ten-thousandth, so that it does not read as nothing.
func hours(seconds int64) string {
	h := float64(seconds) / 3600
	if seconds > 0 && h < 1 {
		return strconv.FormatFloat(h, 'f', 4, 64)
	}
	return strconv.FormatFloat(h, 'f', 2, 64)
}
