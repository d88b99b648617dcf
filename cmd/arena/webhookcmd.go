package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"strings"
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
  --server URL    control plane (env ARENA_SERVER; default http://127.0.0.1:8080)
  --token TOKEN   an admin token (env ARENA_TOKEN)
  --org ORG       the organisation (default: the token's own)
  -o table|json   output format (default table)
`

func runWebhook(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("arena webhook", stderr)
	f.fs.Usage = func() { fmt.Fprint(stderr, webhookUsage) }
	var events list
	f.fs.Var(&events, "event", "")
	words, err := parseInterleaved(f.fs, args)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		f.fs.Usage()
		return fmt.Errorf("arena webhook needs a command")
	}
	c := newAPIClient(*f.server, *f.token)
	base, err := f.orgPath(ctx, c)
	if err != nil {
		return err
	}
	cols := []string{"id", "url", "events", "createdAt"}
	switch {
	case len(words) == 1 && words[0] == "list":
		body, err := c.call(ctx, nethttp.MethodGet, base+"/webhooks", nil)
		if err != nil {
			return err
		}
		return f.show(stdout, body, "webhooks", cols...)
	case len(words) == 2 && words[0] == "create":
		req := map[string]any{"url": words[1]}
		if len(events) > 0 {
			req["events"] = []string(events)
		}
		body, err := c.call(ctx, nethttp.MethodPost, base+"/webhooks", req)
		if err != nil {
			return err
		}
		if *f.output == "json" {
			_, err := stdout.Write(append(body, '\n'))
			return err
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
	case len(words) == 2 && words[0] == "delete":
		if _, err := c.call(ctx, nethttp.MethodDelete, base+"/webhooks/"+url.PathEscape(words[1]), nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "webhook %s deleted\n", words[1])
		return nil
	}
	f.fs.Usage()
	return fmt.Errorf("unknown or incomplete webhook command %q", strings.Join(words, " "))
}
