// Command arena runs Arena: `arena dev` starts the whole platform on one
// machine; other subcommands run the echo game server and the load generator.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/gameserver"
)

const usage = `Arena orchestrates multiplayer game server sessions.

Usage:
  arena dev      run the control plane, a local agent on Docker and an embedded store
  arena server   run the control plane for agents on other machines
  arena agent    run a node's agent: join a control plane, run its sessions on Docker
  arena node     list, drain, undrain and remove nodes
  arena session  create, list, get and delete sessions; players join and leave
  arena locations IMAGE  the locations that can host IMAGE now
  arena tag REGION IMAGE VERSION  whether a version can run in a region now
  arena usage    report billed time and cost
  arena org      list, create and bound organisations (operators)
  arena user     list, create and delete an organisation's users
  arena token    list, create and revoke an organisation's API tokens
  arena app      list, get, apply and delete an organisation's applications
  arena webhook  list, create and delete an organisation's webhook endpoints
  arena bench    measure POST /session latency and throughput
  arena echo     run the echo game server (the demo application's image runs this)
  arena version  print the version

Run 'arena COMMAND -h' for a command's flags.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "dev":
		err = runDev(ctx, args[1:], stdout, stderr)
	case "server":
		err = runServer(ctx, args[1:], stdout, stderr)
	case "agent":
		err = runAgent(ctx, args[1:], stdout, stderr)
	case "node":
		err = runNode(ctx, args[1:], stdout, stderr)
	case "session":
		err = runSession(ctx, args[1:], stdout, stderr)
	case "locations":
		err = runLocations(ctx, args[1:], stdout, stderr)
	case "tag":
		err = runTag(ctx, args[1:], stdout, stderr)
	case "usage":
		err = runUsage(ctx, args[1:], stdout, stderr)
	case "org":
		err = runOrg(ctx, args[1:], stdout, stderr)
	case "user":
		err = runUser(ctx, args[1:], stdout, stderr)
	case "token":
		err = runToken(ctx, args[1:], stdout, stderr)
	case "app":
		err = runApp(ctx, args[1:], stdout, stderr)
	case "webhook":
		err = runWebhook(ctx, args[1:], stdout, stderr)
	case "bench":
		err = runBench(ctx, args[1:], stdout, stderr)
	case "echo":
		stop() // the game server handles SIGTERM itself
		return gameserver.Main(args[1:], os.Getenv, stdout)
	case "version":
		fmt.Fprintln(stdout, "arena", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "arena: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errTagAbsent):
		return 1
	case err != nil:
		fmt.Fprintln(stderr, "arena:", err)
		return 1
	}
	return 0
}

// pick returns the first non-empty value: a flag, then an environment
// variable, then the config file, then the default.
func pick(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(requestIDHandler{slog.NewTextHandler(w, opts)}), nil
	case "json":
		return slog.New(requestIDHandler{slog.NewJSONHandler(w, opts)}), nil
	}
	return nil, fmt.Errorf("log format %q must be text or json", format)
}

// requestIDHandler adds the id of the API request being served to every
// record logged in its context, so that a session's log lines can be traced
// to the call that caused them.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := arena.RequestID(ctx); id != "" {
		has := false
		r.Attrs(func(a slog.Attr) bool {
			has = a.Key == "request_id"
			return !has
		})
		if !has {
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
