package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
)

const webhookUsage = `Usage:
  arena webhook list [--org O]
  arena webhook create URL [--event TYPE]... [--org O]   every type when no --event
  arena webhook delete ID [--org O]

Arena POSTs the organisation's session events to each URL, signed with the
secret shown once at creation: see the Go package
github.com/arena-hq/arena/webhook for the body, the headers and how to verify
a request. Event types: session.started session.running session.stopped
session.unreachable.

Flags:
  --server URL         control plane (env ARENA_SERVER; default http://127.0.0.1:8080)
  --token TOKEN        an admin token (env ARENA_TOKEN)
  --org ORG            the organisation (default: the token's own)
  -o table|json|yaml   output format (default table)
`

// webhookCommands are the words of arena webhook.
var webhookCommands = []subcommand{
	{name: "list"},
	{name: "create", args: "URL", min: 1, max: 1},
	{name: "delete", args: "ID", min: 1, max: 1},
}

func runWebhook(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("arena webhook", stdout, webhookUsage)
	var events list
	f.fs.Var(&events, "event", "")
	cmd, rest, err := parseCommand(f.fs, args, webhookCommands)
	if err != nil {
		return err
	}
	c := newAPIClient(*f.server, *f.token)
	base, err := f.orgPath(ctx, c)
	if err != nil {
		return err
	}
	cols := []string{"id", "url", "events", "createdAt"}
	switch cmd {
	case "list":
		body, err := c.call(ctx, nethttp.MethodGet, base+"/webhooks", nil)
		if err != nil {
			return err
		}
		return f.show(stdout, body, "webhooks", cols...)
	case "create":
		req := map[string]any{"url": rest[0]}
		if len(events) > 0 {
			req["events"] = []string(events)
		}
		body, err := c.call(ctx, nethttp.MethodPost, base+"/webhooks", req)
		if err != nil {
			return err
		}
		if f.output.format != "table" {
			return f.output.print(stdout, body, nil)
		}
		var created struct {
			Webhook struct{ ID string }
			Secret  string
		}
		if err := json.Unmarshal(body, &created); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "webhook %s created. Its signing secret, shown this once:\n%s\n", created.Webhook.ID, created.Secret)
		return nil
	case "delete":
		if _, err := c.call(ctx, nethttp.MethodDelete, base+"/webhooks/"+url.PathEscape(rest[0]), nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "webhook %s deleted\n", rest[0])
		return nil
	}
	return notHandled(f.fs, cmd)
}
