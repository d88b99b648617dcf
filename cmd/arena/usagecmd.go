package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"text/tabwriter"
)

const usageUsage = `Usage:
  arena usage [--from TIME] [--to TIME] [-o table|json|csv]

Reports the organisation's billed time and cost, grouped by application,
location and resource profile. TIME is RFC 3339 (2026-11-01T00:00:00Z); the
period defaults to the 30 days before now.

Flags:
  --server URL    control plane (env ARENA_SERVER; default http://127.0.0.1:8080)
  --token TOKEN   the organisation's token (env ARENA_TOKEN)
`

func runUsage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("arena usage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageUsage) }
	server := fs.String("server", "", "")
	token := fs.String("token", "", "")
	from := fs.String("from", "", "")
	to := fs.String("to", "", "")
	output := fs.String("o", "table", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	q := url.Values{}
	if *from != "" {
		q.Set("from", *from)
	}
	if *to != "" {
		q.Set("to", *to)
	}
	switch *output {
	case "csv":
		q.Set("format", "csv")
	case "json", "table":
	default:
		return fmt.Errorf("-o must be table, json or csv")
	}
	body, err := newAPIClient(*server, *token).call(ctx, nethttp.MethodGet, "/usage?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if *output != "table" {
		_, err := stdout.Write(body)
		return err
	}
	var report struct {
		From, To string
		Lines    []struct {
			Application, Location string
			Profile               struct{ MilliCPU, MemoryMB int64 }
			Sessions              int
			Seconds               int64
			Cost                  float64
			Priced                bool
		}
		TotalSeconds int64
		TotalCost    float64
	}
	if err := json.Unmarshal(body, &report); err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	fmt.Fprintf(stdout, "Usage from %s to %s\n", report.From, report.To)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "APPLICATION\tLOCATION\tPROFILE\tSESSIONS\tHOURS\tCOST")
	for _, l := range report.Lines {
		cost := "-"
		if l.Priced {
			cost = fmt.Sprintf("%.2f", l.Cost)
		}
		fmt.Fprintf(tw, "%s\t%s\t%dm/%dMi\t%d\t%.2f\t%s\n", l.Application, l.Location, l.Profile.MilliCPU, l.Profile.MemoryMB,
			l.Sessions, float64(l.Seconds)/3600, cost)
	}
	fmt.Fprintf(tw, "TOTAL\t\t\t\t%.2f\t%.2f\n", float64(report.TotalSeconds)/3600, report.TotalCost)
	return tw.Flush()
}
