package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"text/tabwriter"
	"time"
)

const nodeUsage = `Usage:
  arena node list                 nodes with their state, capacity and usage
  arena node drain NODE           stop placing new sessions on NODE
  arena node undrain NODE         place sessions on NODE again
  arena node remove NODE          forget NODE and its credential (it must have no sessions)

A NODE may be given as the beginning of its id, as long as no other node's
id begins the same way.

Flags:
  --server URL         control plane (env ARENA_SERVER; default http://127.0.0.1:8080)
  --token TOKEN        a token with the operator scope (env ARENA_TOKEN)
  -o table|json|yaml   output format (default table)
`

// nodeCommands are the words of arena node.
var nodeCommands = []subcommand{
	{name: "list"},
	{name: "drain", args: "NODE", min: 1, max: 1},
	{name: "undrain", args: "NODE", min: 1, max: 1},
	{name: "remove", args: "NODE", min: 1, max: 1},
}

// nodeJSON is a node as the admin API answers it.
type nodeJSON struct {
	ID       string    `json:"id"`
	Region   string    `json:"region"`
	Location string    `json:"location"`
	Provider string    `json:"provider"`
	Class    string    `json:"class"`
	PublicIP string    `json:"publicIp"`
	State    string    `json:"state"`
	Draining bool      `json:"draining"`
	LastSeen string    `json:"lastSeen"`
	JoinedAt time.Time `json:"joinedAt"`
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
	fs := newFlagSet("arena node", stdout, nodeUsage)
	server := fs.String("server", "", "")
	token := fs.String("token", "", "")
	output := outputFlag(fs, "json", "yaml")
	cmd, rest, err := parseCommand(fs, args, nodeCommands)
	if err != nil {
		return err
	}
	c := newAPIClient(*server, *token)
	var body []byte
	if cmd == "list" {
		body, err = c.call(ctx, nethttp.MethodGet, "/admin/v1/nodes", nil)
	} else {
		err = resolvePrefix("node", rest[0], func(id string) (err error) {
			rest[0] = id
			if cmd == "remove" {
				_, err = c.call(ctx, nethttp.MethodDelete, "/admin/v1/nodes/"+url.PathEscape(id), nil)
				return err
			}
			body, err = c.call(ctx, nethttp.MethodPost, "/admin/v1/nodes/"+url.PathEscape(id)+"/"+cmd, nil)
			return err
		}, func() ([]string, error) { return c.nodeIDs(ctx) })
	}
	if err != nil {
		return err
	}
	if cmd == "remove" {
		fmt.Fprintf(stdout, "node %s removed\n", rest[0])
		return nil
	}
	return output.print(stdout, body, func(tw *tabwriter.Writer) error {
		var nodes []nodeJSON
		if cmd == "list" {
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
		now := time.Now()
		fmt.Fprintln(tw, "NODE\tREGION\tLOCATION\tPROVIDER\tCLASS\tSTATE\tCPU USED\tMEMORY USED\tFREE PORTS\tSESSIONS\tLAST SEEN\tAGE")
		for _, n := range nodes {
			seen := n.LastSeen
			if t, err := time.Parse(time.RFC3339Nano, n.LastSeen); err == nil {
				if seen = age(now, t); seen != "-" {
					seen += " ago"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%dm\t%d/%dMi\t%d\t%d\t%s\t%s\n", n.ID, n.Region, n.Location, n.Provider, n.Class, n.State,
				n.Used.MilliCPU, n.Capacity.MilliCPU, n.Used.MemoryMB, n.Capacity.MemoryMB, n.Ports.Free, n.Sessions, seen, age(now, n.JoinedAt))
		}
		return nil
	})
}
