package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

const nodeUsage = `Usage:
  arena node list                 nodes with their state, capacity and usage
  arena node drain NODE           stop placing new sessions on NODE
  arena node undrain NODE         place sessions on NODE again
  arena node remove NODE          forget NODE and its credential (it must have no sessions)

Flags:
  --server URL    control plane (env ARENA_SERVER; default http://127.0.0.1:8080)
  --token TOKEN   a token with the admin scope (env ARENA_TOKEN)
  -o table|json   output format (default table)
`

// nodeJSON is a node as the admin API answers it.
type nodeJSON struct {
	ID       string `json:"id"`
	Region   string `json:"region"`
	Location string `json:"location"`
	Provider string `json:"provider"`
	Class    string `json:"class"`
	PublicIP string `json:"publicIp"`
	State    string `json:"state"`
	Draining bool   `json:"draining"`
	LastSeen string `json:"lastSeen"`
	Capacity struct {
		MilliCPU int64 `json:"milliCpu"`
		MemoryMB int64 `json:"memoryMb"`
	} `json:"capacity"`
	Used struct {
		MilliCPU int64 `json:"milliCpu"`
		MemoryMB int64 `json:"memoryMb"`
	} `json:"used"`
	Ports struct {
		Min, Max, Free int
	} `json:"ports"`
	Sessions int `json:"sessions"`
}

func runNode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("arena node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, nodeUsage) }
	server := fs.String("server", "", "")
	token := fs.String("token", "", "")
	output := fs.String("o", "table", "")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	c := newAPIClient(*server, *token)
	if *output != "table" && *output != "json" {
		return fmt.Errorf("-o must be table or json")
	}
	if len(rest) == 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	var (
		method, path string
	)
	switch {
	case rest[0] == "list" && len(rest) == 1:
		method, path = nethttp.MethodGet, "/admin/v1/nodes"
	case (rest[0] == "drain" || rest[0] == "undrain") && len(rest) == 2:
		method, path = nethttp.MethodPost, "/admin/v1/nodes/"+url.PathEscape(rest[1])+"/"+rest[0]
	case rest[0] == "remove" && len(rest) == 2:
		method, path = nethttp.MethodDelete, "/admin/v1/nodes/"+url.PathEscape(rest[1])
	default:
		fs.Usage()
		return fmt.Errorf("unknown node command %q", strings.Join(rest, " "))
	}
	body, err := c.call(ctx, method, path, nil)
	if err != nil {
		return err
	}
	if rest[0] == "remove" {
		fmt.Fprintf(stdout, "node %s removed\n", rest[1])
		return nil
	}
	if *output == "json" {
		_, err := stdout.Write(append(body, '\n'))
		return err
	}
	var nodes []nodeJSON
	if rest[0] == "list" {
		var list struct {
			Nodes []nodeJSON `json:"nodes"`
		}
		err = json.Unmarshal(body, &list)
		nodes = list.Nodes
	} else {
		var n nodeJSON
		err = json.Unmarshal(body, &n)
		nodes = []nodeJSON{n}
	}
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tREGION\tLOCATION\tPROVIDER\tCLASS\tSTATE\tCPU USED\tMEMORY USED\tFREE PORTS\tSESSIONS\tLAST SEEN")
	for _, n := range nodes {
		seen := n.LastSeen
		if t, err := time.Parse(time.RFC3339Nano, n.LastSeen); err == nil {
			seen = time.Since(t).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%dm\t%d/%dMi\t%d\t%d\t%s\n", n.ID, n.Region, n.Location, n.Provider, n.Class, n.State,
			n.Used.MilliCPU, n.Capacity.MilliCPU, n.Used.MemoryMB, n.Capacity.MemoryMB, n.Ports.Free, n.Sessions, seen)
	}
	return tw.Flush()
}

// parseInterleaved parses fs's flags wherever they stand among the command's
// words, and returns the words.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return words, nil
		}
		words, args = append(words, fs.Arg(0)), fs.Args()[1:]
	}
}

// apiCall sends a request with a JSON body (when body is not nil) and
// returns the body of a 2xx answer, or the API's error message.
func apiCall(ctx context.Context, method, url, token string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := nethttp.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(answer, &e) == nil && e.Message != "" {
			return nil, fmt.Errorf("%s: %s", resp.Status, e.Message)
		}
		return nil, fmt.Errorf("%s", resp.Status)
	}
	return answer, nil
}
