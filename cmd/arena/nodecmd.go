package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/arena-hq/arena/client"
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
	var (
		body  []byte
		nodes []client.Node
	)
	if cmd == "list" {
		var l client.NodeList
		l, err = c.Nodes().List(ctx)
		body, nodes = l.Raw(), l.Nodes
	} else {
		err = resolvePrefix("node", rest[0], func(id string) (err error) {
			rest[0] = id
			var n client.Node
			switch cmd {
			case "remove":
				return c.Nodes().Remove(ctx, id)
			case "drain":
				n, err = c.Nodes().Drain(ctx, id)
			default:
				n, err = c.Nodes().Undrain(ctx, id)
			}
			body, nodes = n.Raw(), []client.Node{n}
			return err
		}, func() ([]string, error) { return nodeIDs(ctx, c) })
	}
	if err != nil {
		return err
	}
	if cmd == "remove" {
		fmt.Fprintf(stdout, "node %s removed\n", rest[0])
		return nil
	}
	return output.print(stdout, body, func(tw *tabwriter.Writer) error {
		now := time.Now()
		fmt.Fprintln(tw, "NODE\tREGION\tLOCATION\tPROVIDER\tCLASS\tSTATE\tCPU USED\tMEMORY USED\tFREE PORTS\tSESSIONS\tLAST SEEN\tAGE")
		for _, n := range nodes {
			seen := n.LastSeen
			if t, err := time.Parse(time.RFC3339Nano, n.LastSeen); err == nil {
				if seen = age(now, t); seen != "-" {
					seen += " ago"
				}
			}
			// Absent for a node recorded before Arena kept it: no age.
			joined, _ := time.Parse(time.RFC3339Nano, n.JoinedAt)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%dm\t%d/%dMi\t%d\t%d\t%s\t%s\n", n.ID, n.Region, n.Location, n.Provider, n.Class, n.State,
				n.Used.MilliCPU, n.Capacity.MilliCPU, n.Used.MemoryMB, n.Capacity.MemoryMB, n.Ports.Free, n.Sessions, seen, age(now, joined))
		}
		return nil
	})
}
