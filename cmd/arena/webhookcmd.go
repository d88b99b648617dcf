package main

import (
	"context"
	"fmt"
	"io"

	"github.com/arena-hq/arena/client"
)

const webhookUsage = `Usage:
  arena webhook list [--org O]
  arena webhook create URL [--event TYPE]... [--org O]   every type when no --event
  arena webhook delete ID [--org O]

Arena POSTs the organisation's session events to each URL, signed with the
secret shown once at creation: see the Go package
github.com/arena-hq/arena/webhook for the body, the headers and how to verify
a request. Event types: session.started session.running session.stopped
session.unreachable, and node.added node.retired (sent to the cloud section's
eventsOrg alone).

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
	org, err := f.orgOf(ctx, c)
	if err != nil {
		return err
	}
	cols := []string{"id", "url", "events", "createdAt"}
	switch cmd {
	case "list":
		l, err := c.Admin().ListWebhooks(ctx, org)
		if err != nil {
			return err
		}
		return f.show(stdout, l.Raw(), "webhooks", cols...)
	case "create":
		created, err := c.Admin().CreateWebhook(ctx, org, client.WebhookRequest{URL: rest[0], Events: events})
		if err != nil {
			return err
		}
		if f.output.format != "table" {
			return f.output.print(stdout, created.Raw(), nil)
		}
		fmt.Fprintf(stdout, "webhook %s created. Its signing secret, shown this once:\n%s\n", created.Webhook.ID, created.Secret)
		return nil
	case "delete":
		if err := c.Admin().DeleteWebhook(ctx, org, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "webhook %s deleted\n", rest[0])
		return nil
	}
	return notHandled(f.fs, cmd)
}
