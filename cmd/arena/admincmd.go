package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/arena-hq/arena/client"
)

const adminUsage = `Usage:
  arena org list
  arena org get ORG
  arena org create ID [--name N] [--environment sandbox|production]
  arena org quota ORG [--sessions N] [--cpu CORES] [--clear]
                                         show or change an organisation's
                                         quota (operators); a bound not given
                                         is kept, 0 or --clear is no bound
  arena user list [--org O]
  arena user create EMAIL [--name N] [--org O]
  arena user delete ID [--org O]
  arena token list [--org O]
  arena token create NAME [--scope S]... [--expires 720h] [--user ID]
                          [--rate-limit R] [--rate-burst B] [--org O]
  arena token revoke ID [--org O]
  arena app list [--org O]
  arena app get NAME [--org O]
  arena app apply -f FILE [--org O]     create or replace an application
                                         from YAML or JSON (the admin API's
                                         ApplicationInput; registry.passwordEnv
                                         reads the password from a variable)
  arena app delete NAME [--org O]

Flags:
  --server URL         control plane (env ARENA_SERVER; default http://127.0.0.1:8080)
  --token TOKEN        an admin token (env ARENA_TOKEN)
  --org ORG            the organisation (default: the token's own)
  -o table|json|yaml   output format (default table)

Scopes: sessions:read sessions:write logs artifacts usage (the default set),
admin (the organisation), operator (the installation), and the Gameye API's
narrower session:start session:read session:stop logs:read artifact:read
regions:read application:read application:write.
`

// The words of the admin commands.
var (
	orgCommands = []subcommand{
		{name: "list"},
		{name: "get", args: "ORG", min: 1, max: 1},
		{name: "create", args: "ID", min: 1, max: 1},
		{name: "quota", args: "ORG", min: 1, max: 1},
	}
	userCommands = []subcommand{
		{name: "list"},
		{name: "create", args: "EMAIL", min: 1, max: 1},
		{name: "delete", args: "ID", min: 1, max: 1},
	}
	tokenCommands = []subcommand{
		{name: "list"},
		{name: "create", args: "NAME", min: 1, max: 1},
		{name: "revoke", args: "ID", min: 1, max: 1},
	}
	appCommands = []subcommand{
		{name: "list"},
		{name: "get", args: "NAME", min: 1, max: 1},
		{name: "apply"},
		{name: "delete", args: "NAME", min: 1, max: 1},
	}
)

// adminFlags are the flags every admin command takes.
type adminFlags struct {
	fs                 *flag.FlagSet
	server, token, org *string
	output             *output
}

// newAdminFlags returns the flags of an admin command whose help, text,
// --help prints to stdout.
func newAdminFlags(name string, stdout io.Writer, help string) adminFlags {
	fs := newFlagSet(name, stdout, help)
	return adminFlags{fs: fs, server: fs.String("server", "", ""), token: fs.String("token", "", ""), org: fs.String("org", "", ""), output: outputFlag(fs, "json", "yaml")}
}

// orgOf returns --org, or the token's own organisation when it is not
// given.
func (f adminFlags) orgOf(ctx context.Context, c *client.Client) (string, error) {
	if *f.org != "" {
		return *f.org, nil
	}
	who, err := c.Admin().WhoAmI(ctx)
	if err != nil {
		return "", err
	}
	return who.Organization.ID, nil
}

// show prints body as JSON, or as a table of the rows of key with columns
// (JSON field names, headed by their upper case).
func (f adminFlags) show(stdout io.Writer, body []byte, key string, columns ...string) error {
	return f.output.print(stdout, body, func(tw *tabwriter.Writer) error {
		var rows []map[string]any
		if key == "" {
			var one map[string]any
			if err := json.Unmarshal(body, &one); err != nil {
				return err
			}
			rows = []map[string]any{one}
		} else {
			var all map[string][]map[string]any
			if err := json.Unmarshal(body, &all); err != nil {
				return err
			}
			rows = all[key]
		}
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(columns, "\t")))
		for _, r := range rows {
			cells := make([]string, len(columns))
			for i, c := range columns {
				cells[i] = cell(r[c])
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		return nil
	})
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case []any:
		// An empty list (an application without tags, or of any region)
		// shows as absent rather than as a blank the columns would swallow.
		if len(x) == 0 {
			return "-"
		}
		parts := make([]string, len(x))
		for i, p := range x {
			if m, ok := p.(map[string]any); ok && m["name"] != nil {
				parts[i] = fmt.Sprint(m["name"])
				continue
			}
			parts[i] = fmt.Sprint(p)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		b, _ := json.Marshal(x)
		return string(b)
	case string:
		// Likewise an empty string, such as the user of an application
		// that runs as its image's USER.
		if x == "" {
			return "-"
		}
	}
	return fmt.Sprint(v)
}

func runOrg(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("arena org", stdout, adminUsage)
	name, env := f.fs.String("name", "", ""), f.fs.String("environment", "", "")
	sessions, cores := f.fs.Int("sessions", 0, ""), f.fs.Float64("cpu", 0, "")
	clearQuota := f.fs.Bool("clear", false, "")
	cmd, rest, err := parseCommand(f.fs, args, orgCommands)
	if err != nil {
		return err
	}
	admin := newAPIClient(*f.server, *f.token).Admin()
	switch cmd {
	case "list":
		l, err := admin.ListOrgs(ctx)
		if err != nil {
			return err
		}
		return f.showOrgs(stdout, l.Raw(), l.Organizations...)
	case "get":
		o, err := admin.GetOrg(ctx, rest[0])
		if err != nil {
			return err
		}
		return f.showOrgs(stdout, o.Raw(), o)
	case "create":
		o, err := admin.CreateOrg(ctx, client.OrganizationRequest{ID: rest[0], Name: *name, Environment: *env})
		if err != nil {
			return err
		}
		return f.showOrgs(stdout, o.Raw(), o)
	case "quota":
		set := map[string]bool{}
		f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
		switch {
		case *clearQuota && (set["sessions"] || set["cpu"]):
			return usageErrorf("arena org quota", "--clear removes both bounds: give it without --sessions and --cpu")
		case math.IsNaN(*cores) || math.IsInf(*cores, 0):
			return usageErrorf("arena org quota", "--cpu must be a number of cores, such as 4 or 0.5")
		}
		o, err := admin.GetOrg(ctx, rest[0])
		if err != nil {
			return err
		}
		if !set["sessions"] && !set["cpu"] && !set["clear"] {
			return f.showOrgs(stdout, o.Raw(), o)
		}
		// The API replaces both bounds: a bound not given keeps its value.
		quota := client.QuotaRequest{MaxSessions: o.Quota.MaxSessions, MaxMilliCPU: o.Quota.MaxMilliCPU}
		if *clearQuota {
			quota = client.QuotaRequest{}
		}
		if set["sessions"] {
			quota.MaxSessions = *sessions
		}
		if set["cpu"] {
			quota.MaxMilliCPU = int64(math.Round(*cores * 1000))
		}
		if o, err = admin.SetQuota(ctx, rest[0], quota); err != nil {
			return err
		}
		return f.showOrgs(stdout, o.Raw(), o)
	}
	return notHandled(f.fs, cmd)
}

// showOrgs prints an answer of organisations, body, as JSON or as a table
// of orgs whose SESSIONS and CPU columns read "in use/quota".
func (f adminFlags) showOrgs(stdout io.Writer, body []byte, orgs ...client.Organization) error {
	return f.output.print(stdout, body, func(tw *tabwriter.Writer) error {
		bound := func(used, max string, bounded bool) string {
			if !bounded {
				return used + "/-"
			}
			return used + "/" + max
		}
		fmt.Fprintln(tw, "ID\tNAME\tENVIRONMENT\tSESSIONS\tCPU\tQUOTA FROM\tCREATED")
		for _, o := range orgs {
			q, a := o.Quota, o.Active
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, o.Name, o.Environment,
				bound(fmt.Sprint(a.Sessions), fmt.Sprint(q.MaxSessions), q.MaxSessions > 0),
				bound(coresText(a.MilliCPU), coresText(q.MaxMilliCPU), q.MaxMilliCPU > 0),
				q.Source, o.CreatedAt)
		}
		return nil
	})
}

// coresText shows thousandths of a core as cores: 2500 is 2.5.
func coresText(milli int64) string {
	return strconv.FormatFloat(float64(milli)/1000, 'f', -1, 64)
}

func runUser(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("arena user", stdout, adminUsage)
	name := f.fs.String("name", "", "")
	cmd, rest, err := parseCommand(f.fs, args, userCommands)
	if err != nil {
		return err
	}
	c := newAPIClient(*f.server, *f.token)
	cols := []string{"id", "email", "name", "createdAt"}
	org, err := f.orgOf(ctx, c)
	if err != nil {
		return err
	}
	switch cmd {
	case "list":
		l, err := c.Admin().ListUsers(ctx, org)
		if err != nil {
			return err
		}
		return f.show(stdout, l.Raw(), "users", cols...)
	case "create":
		u, err := c.Admin().CreateUser(ctx, org, client.UserRequest{Email: rest[0], Name: *name})
		if err != nil {
			return err
		}
		return f.show(stdout, u.Raw(), "", cols...)
	case "delete":
		if err := c.Admin().DeleteUser(ctx, org, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s deleted; its tokens are revoked\n", rest[0])
		return nil
	}
	return notHandled(f.fs, cmd)
}

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("arena token", stdout, adminUsage)
	var scopes list
	f.fs.Var(&scopes, "scope", "")
	expires := f.fs.Duration("expires", 0, "")
	user := f.fs.String("user", "", "")
	rateLimit, rateBurst := f.fs.Float64("rate-limit", 0, ""), f.fs.Int("rate-burst", 0, "")
	cmd, rest, err := parseCommand(f.fs, args, tokenCommands)
	if err != nil {
		return err
	}
	c := newAPIClient(*f.server, *f.token)
	org, err := f.orgOf(ctx, c)
	if err != nil {
		return err
	}
	cols := []string{"id", "name", "scopes", "createdAt", "expiresAt", "revokedAt"}
	switch cmd {
	case "list":
		l, err := c.Admin().ListTokens(ctx, org)
		if err != nil {
			return err
		}
		return f.show(stdout, l.Raw(), "tokens", cols...)
	case "create":
		req := client.TokenRequest{Name: rest[0], ExpiresInSeconds: int64(expires.Round(time.Second) / time.Second), Scopes: scopes, UserID: *user}
		if *rateLimit > 0 {
			req.RateLimit = *rateLimit
		}
		if *rateBurst > 0 {
			req.RateBurst = *rateBurst
		}
		created, err := c.Admin().CreateToken(ctx, org, req)
		if err != nil {
			return err
		}
		if f.output.format != "table" {
			return f.output.print(stdout, created.Raw(), nil)
		}
		fmt.Fprintf(stdout, "token %s created. Its secret, shown this once (Arena keeps only its hash):\n%s\n", created.Token.ID, created.Secret)
		return nil
	case "revoke":
		if err := c.Admin().RevokeToken(ctx, org, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %s revoked\n", rest[0])
		return nil
	}
	return notHandled(f.fs, cmd)
}

func runApp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("arena app", stdout, adminUsage)
	file := f.fs.String("f", "", "")
	cmd, rest, err := parseCommand(f.fs, args, appCommands)
	if err != nil {
		return err
	}
	if cmd == "apply" && *file == "" {
		return usageErrorf("arena app apply", "missing -f FILE")
	}
	c := newAPIClient(*f.server, *f.token)
	admin := c.Admin()
	org, err := f.orgOf(ctx, c)
	if err != nil {
		return err
	}
	cols := []string{"name", "repository", "tags", "defaultTag", "network", "resources", "limits", "regions", "user", "source"}
	switch cmd {
	case "list":
		l, err := admin.ListApplications(ctx, org)
		if err != nil {
			return err
		}
		return f.show(stdout, l.Raw(), "applications", cols...)
	case "get":
		a, err := admin.GetApplication(ctx, org, rest[0])
		if err != nil {
			return err
		}
		if err := f.show(stdout, a.Raw(), "", cols...); err != nil || f.output.format != "table" || len(a.WarmPools) == 0 {
			return err
		}
		return showWarmPools(stdout, a.WarmPools)
	case "apply":
		app, err := readAppFile(*file)
		if err != nil {
			return err
		}
		// The file goes as it was written: the API, not the CLI, judges it.
		name, _ := app["name"].(string)
		apply := func() (client.Application, error) { return admin.UpdateApplication(ctx, org, name, app) }
		if _, err := admin.GetApplication(ctx, org, name); err != nil {
			apply = func() (client.Application, error) { return admin.CreateApplication(ctx, org, app) }
		}
		a, err := apply()
		if err != nil {
			return err
		}
		return f.show(stdout, a.Raw(), "", cols...)
	case "delete":
		if err := admin.DeleteApplication(ctx, org, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "application %s deleted; its running sessions go on\n", rest[0])
		return nil
	}
	return notHandled(f.fs, cmd)
}

// showWarmPools prints, below an application's row, its warm pools and how
// full each is, node by node.
func showWarmPools(w io.Writer, pools []client.WarmPool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nWARM POOL\tTAG\tMODE\tSIZE\tREADY\tWARMING\tNODES")
	for _, p := range pools {
		nodes := make([]string, len(p.Nodes))
		for i, n := range p.Nodes {
			nodes[i] = fmt.Sprintf("%s=%d/%d", n.Node, n.Ready, n.Warming)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", p.Location, cell(p.Tag), p.Mode, p.Size, p.Ready, p.Warming, cell(strings.Join(nodes, ",")))
	}
	return tw.Flush()
}

// readAppFile reads an application from YAML (or JSON, which is YAML),
// taking registry.passwordEnv's password from the environment so that the
// file need not hold it.
func readAppFile(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// A tag such as 1.0 or 20261125, or a user such as 1000, is a string,
	// whatever YAML would make of it: keep it as written.
	if len(doc.Content) == 1 {
		if tags := mappingValue(doc.Content[0], "tags"); tags != nil && tags.Kind == yaml.SequenceNode {
			for _, t := range tags.Content {
				if n := mappingValue(t, "name"); n != nil && n.Kind == yaml.ScalarNode {
					n.Tag = "!!str"
				}
			}
		}
		if n := mappingValue(doc.Content[0], "user"); n != nil && n.Kind == yaml.ScalarNode {
			n.Tag = "!!str"
		}
	}
	var app map[string]any
	if err := doc.Decode(&app); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if reg, ok := app["registry"].(map[string]any); ok {
		if env, ok := reg["passwordEnv"].(string); ok {
			pw := os.Getenv(env)
			if pw == "" {
				return nil, fmt.Errorf("%s: registry.passwordEnv names %s, which is not set", path, env)
			}
			delete(reg, "passwordEnv")
			reg["password"] = pw
		}
	}
	return app, nil
}

// mappingValue returns the value of key in a YAML mapping node, or nil.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// notHandled is the error of a command whose words parseCommand took but
// whose run does not know them: a bug.
func notHandled(fs *flag.FlagSet, cmd string) error {
	return fmt.Errorf("%s %s is not handled", fs.Name(), cmd)
}
