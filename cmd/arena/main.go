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
	"text/tabwriter"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/gameserver"
)

// command is one of arena's commands. This table drives the dispatch, the
// help and the shell completion scripts alike, so that none of them can
// disagree with another.
type command struct {
	name string
	// args names what the command takes, for the help: "IMAGE".
	args    string
	summary string
	// run is nil for the commands run itself handles.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	// subs are the words of a group of commands: list of arena node list.
	subs []subcommand
}

func commands() []command {
	return []command{
		{name: "dev", summary: "run the control plane, a local agent on Docker and an embedded store", run: runDev},
		{name: "server", summary: "run the control plane for agents on other machines", run: runServer},
		{name: "agent", summary: "run a node's agent: join a control plane, run its sessions on Docker", run: runAgent},
		{name: "node", summary: "list, drain, undrain and remove nodes", run: runNode, subs: nodeCommands},
		{name: "scaler", summary: "the cloud machines Arena adds and retires, its decisions, policies and providers", run: runScaler, subs: scalerCommands},
		{name: "session", summary: "create, list, get and delete sessions; players join and leave", run: runSession, subs: sessionCommands},
		{name: "locations", args: "IMAGE", summary: "the locations that can host IMAGE now", run: runLocations},
		{name: "tag", args: "REGION IMAGE VERSION", summary: "whether a version can run in a region now", run: runTag},
		{name: "usage", summary: "report billed time and cost", run: runUsage},
		{name: "org", summary: "list, create and bound organisations (operators)", run: runOrg, subs: orgCommands},
		{name: "user", summary: "list, create and delete an organisation's users", run: runUser, subs: userCommands},
		{name: "token", summary: "list, create and revoke an organisation's API tokens", run: runToken, subs: tokenCommands},
		{name: "app", summary: "list, get, apply and delete an organisation's applications", run: runApp, subs: appCommands},
		{name: "webhook", summary: "list, create and delete an organisation's webhook endpoints", run: runWebhook, subs: webhookCommands},
		{name: "bench", summary: "measure POST /session latency and throughput", run: runBench},
		{name: "echo", summary: "run the echo game server (the demo application's image runs this)"},
		{name: "completion", args: "bash|zsh|fish", summary: "print a shell completion script", run: runCompletion, subs: completionCommands},
		{name: "version", summary: "print the version, commit and build of this binary", run: runVersion},
		{name: "help", args: "[COMMAND]", summary: "print the help of arena or of a command"},
	}
}

// lookup returns the command of a name.
func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// usage is arena's own help.
func usage() string {
	var b strings.Builder
	b.WriteString("Arena orchestrates multiplayer game server sessions.\n\nUsage:\n  arena COMMAND [ARGUMENTS] [FLAGS]\n\nCommands:\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	tw.Flush()
	b.WriteString(`
Run 'arena COMMAND --help' or 'arena help COMMAND' for a command's arguments
and flags. Flags may stand anywhere after the command; --version is arena
version.

Exit status: 0 on success, 1 when the command failed, 2 when the command line
is not understood (an unknown command or flag, a missing argument).
`)
	return b.String()
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return 2
	}
	switch args[0] {
	case "help", "-h", "--help":
		if len(args) == 1 || args[0] != "help" || args[1] == "help" {
			fmt.Fprint(stdout, usage())
			return 0
		}
		if _, ok := lookup(args[1]); !ok {
			return exitCode(usageErrorf("arena", "unknown command %q", args[1]), stderr)
		}
		return run(append(args[1:], "--help"), stdout, stderr)
	case "--version":
		args = append([]string{"version"}, args[1:]...)
	case "echo":
		// The game server handles its signals itself.
		return gameserver.Main(args[1:], os.Getenv, stdout)
	}
	c, ok := lookup(args[0])
	if !ok {
		return exitCode(usageErrorf("arena", "unknown command %q", args[0]), stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return exitCode(c.run(ctx, args[1:], stdout, stderr), stderr)
}

// exitCode reports err and returns the status to exit with: 2 for a command
// line that was not understood, 1 for a command that failed, 0 otherwise.
func exitCode(err error, stderr io.Writer) int {
	var (
		ue *usageError
		un *client.UnreachableError
	)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%v\nRun '%s --help' for usage.\n", ue, ue.cmd)
		return 2
	case errors.Is(err, errTagAbsent):
		return 1
	case errors.As(err, &un):
		fmt.Fprintf(stderr, "arena: %v%s\n", err, unreachableHint)
		return 1
	}
	fmt.Fprintln(stderr, "arena:", err)
	return 1
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
