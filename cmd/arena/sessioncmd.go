package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/arena-hq/arena/client"
)

const sessionUsage = `Usage:
  arena session create --location L --image I [--version V] [--id ID] [--env K=V]...
                       [--arg A]... [--label K=V]... [--ttl 30m] [--restart]
  arena session list [--all] [--location L] [--image I] [--tag T] [--host H]
                     [--label K=V]... [--players-lt N] [--players-gt N]
  arena session get ID                     the session, described
  arena session delete ID [--wait] [--timeout 2m]
                                           stop it; with --wait, return once it
                                           stopped (at most --timeout)
  arena session logs ID [--follow]         the session's output, live with --follow
  arena session artifact ID PATH --out F   download what was kept at PATH (.tar.gz)
  arena session join ID PLAYER...          record players as joined
  arena session leave PLAYER... [--session ID]
  arena locations IMAGE                    locations that can host IMAGE now
  arena tag REGION IMAGE VERSION [--wait D]
                                           whether VERSION can run in REGION now;
                                           exits 1 while it cannot, --wait polls

An ID may be given as its beginning, as long as no other session's id
begins the same way.

Flags:
  --server URL         control plane (env ARENA_SERVER; default http://127.0.0.1:8080)
  --token TOKEN        the organisation's token (env ARENA_TOKEN)
  -o table|json|yaml   output format (default table)
`

// sessionCommands are the words of arena session.
var sessionCommands = []subcommand{
	{name: "create"},
	{name: "list"},
	{name: "get", args: "ID", min: 1, max: 1},
	{name: "delete", args: "ID", min: 1, max: 1},
	{name: "logs", args: "ID", min: 1, max: 1},
	{name: "artifact", args: "ID PATH", min: 2, max: 2},
	{name: "join", args: "ID PLAYER...", min: 2, max: -1},
	{name: "leave", args: "PLAYER...", min: 1, max: -1},
}

// pairs is a repeatable K=V flag.
type pairs map[string]string

func (p pairs) String() string { return pairsText(p) }

func (p pairs) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	p[k] = val
	return nil
}

// pairsText shows a map as people write it: k=v, k2=v2 in the keys' order,
// "-" when it is empty.
func pairsText(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, ", ")
}

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, " ") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func runSession(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("arena session", stdout, sessionUsage)
	server, token, output := fs.String("server", "", ""), fs.String("token", "", ""), outputFlag(fs, "json", "yaml")
	location, image, version, id := fs.String("location", "", ""), fs.String("image", "", ""), fs.String("version", "", ""), fs.String("id", "", "")
	tag, host, session := fs.String("tag", "", ""), fs.String("host", "", ""), fs.String("session", "", "")
	ttl := fs.Duration("ttl", 0, "")
	restart, all, follow := fs.Bool("restart", false, ""), fs.Bool("all", false, ""), fs.Bool("follow", false, "")
	wait, timeout := fs.Bool("wait", false, ""), fs.Duration("timeout", 2*time.Minute, "")
	out := fs.String("out", "", "")
	lt, gt := fs.Int("players-lt", -1, ""), fs.Int("players-gt", -1, "")
	env, labels := pairs{}, pairs{}
	var argv list
	fs.Var(env, "env", "")
	fs.Var(labels, "label", "")
	fs.Var(&argv, "arg", "")
	cmd, rest, err := parseCommand(fs, args, sessionCommands)
	if err != nil {
		return err
	}
	c := newAPIClient(*server, *token)
	var players client.Players
	switch cmd {
	case "create":
		req := client.SessionRequest{Location: *location, Image: *image, Version: *version, ID: *id, Env: env, Labels: labels, Args: argv, Restart: *restart}
		if *ttl > 0 {
			req.TTL = int64(ttl.Round(time.Second) / time.Second)
		}
		s, err := c.Sessions().Create(ctx, req)
		if err != nil {
			return err
		}
		return output.print(stdout, s.Raw(), func(tw *tabwriter.Writer) error {
			fmt.Fprintf(tw, "SESSION\t%s\nHOST\t%s\n", s.ID, s.Host)
			for _, p := range s.Ports {
				fmt.Fprintf(tw, "PORT\t%d/%s -> %s:%d\n", p.Container, p.Protocol, s.Host, p.Host)
			}
			return nil
		})
	case "list":
		o := client.ListOptions{All: *all, Location: *location, Image: *image, Tag: *tag, Host: *host, Labels: labels}
		if *lt >= 0 {
			o.PlayersFewer = lt
		}
		if *gt >= 0 {
			o.PlayersMore = gt
		}
		l, err := c.Sessions().List(ctx, o)
		if err != nil {
			return err
		}
		return output.print(stdout, l.Raw(), func(tw *tabwriter.Writer) error {
			now := time.Now()
			fmt.Fprintln(tw, "SESSION\tIMAGE\tTAG\tLOCATION\tSTATUS\tHOST\tPORTS\tPLAYERS\tAGE")
			for _, s := range l.Sessions {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.ID, s.Image, s.Tag, s.Location, s.Status, s.Host, portsText(s.Port), s.PlayerCount, age(now, createdAt(s)))
			}
			return nil
		})
	case "get":
		var s client.Session
		err := resolvePrefix("session", rest[0], func(id string) (err error) {
			s, err = c.Sessions().Get(ctx, id, client.GetOptions{All: true})
			return err
		}, func() ([]string, error) { return sessionIDs(ctx, c, true) })
		if err != nil {
			return err
		}
		return output.print(stdout, s.Raw(), func(tw *tabwriter.Writer) error {
			describe(tw, s, time.Now())
			return nil
		})
	case "logs":
		return resolvePrefix("session", rest[0], func(id string) error {
			return logs(ctx, c, id, *follow, stdout)
		}, func() ([]string, error) { return sessionIDs(ctx, c, false) })
	case "artifact":
		if *out == "" {
			return usageErrorf("arena session artifact", "missing --out FILE: where the .tar.gz goes")
		}
		var n int64
		err := resolvePrefix("session", rest[0], func(id string) (err error) {
			n, err = download(ctx, c, id, rest[1], *out)
			return err
		}, func() ([]string, error) { return sessionIDs(ctx, c, true) })
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d bytes\n", *out, n)
		return nil
	case "delete":
		var stopped string
		err := resolvePrefix("session", rest[0], func(id string) error {
			stopped = id
			return c.Sessions().Stop(ctx, id)
		}, func() ([]string, error) {
			// One stopping already is not meant: it cannot be stopped again.
			return sessionIDs(ctx, c, false, "shuttingdown")
		})
		if err != nil {
			return err
		}
		if !*wait {
			fmt.Fprintf(stdout, "session %s is stopping\n", stopped)
			return nil
		}
		status, err := waitStopped(ctx, c, stopped, *timeout)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "session %s stopped: %s\n", stopped, status)
		return nil
	case "join":
		players, err = c.Sessions().Join(ctx, rest[0], rest[1:])
	case "leave":
		players, err = c.Sessions().Leave(ctx, *session, rest)
	}
	if err != nil {
		return err
	}
	return output.print(stdout, players.Raw(), func(tw *tabwriter.Writer) error {
		fmt.Fprintf(tw, "PLAYERS\t%s\nCOUNT\t%d\n", strings.Join(players.Players, " "), players.Count)
		return nil
	})
}

// stoppedStatuses are the statuses of a session that has stopped for good.
var stoppedStatuses = []string{"exited", "dead"}

// waitStopped asks for a session's status until it has stopped, and returns
// that status; past timeout it gives up with an error naming the status the
// session still had. The API has no way to watch a session, and polling
// costs one small request every second or two.
func waitStopped(ctx context.Context, c *client.Client, id string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	status := "running"
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		s, err := c.Sessions().Get(ctx, id, client.GetOptions{All: true})
		switch {
		case err == nil:
			if status = s.Status; slices.Contains(stoppedStatuses, status) {
				return status, nil
			}
		case ctx.Err() == nil:
			return "", err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return "", fmt.Errorf("session %s is still %s after %s", id, status, timeout)
			}
			return "", ctx.Err()
		case <-time.After(delay):
		}
	}
}

// download streams what a session kept at path into a new file, whatever
// its size and however long it takes; a body cut short is an error, not a
// file.
func download(ctx context.Context, c *client.Client, session, path, file string) (int64, error) {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	err = copyStream(f, func() (io.ReadCloser, error) { return c.Sessions().Artifact(ctx, session, path) })
	n, _ := f.Seek(0, io.SeekCurrent)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file)
		return 0, err
	}
	return n, nil
}

// logs copies a session's output to w as it comes; following has no
// deadline but the caller's.
func logs(ctx context.Context, c *client.Client, id string, follow bool, w io.Writer) error {
	open := c.Sessions().Logs
	if follow {
		open = c.Sessions().FollowLogs
	}
	err := copyStream(w, func() (io.ReadCloser, error) { return open(ctx, id) })
	if ctx.Err() != nil {
		return nil // interrupted while following: that is how following ends
	}
	return err
}

// copyStream copies the stream open returns to w, and closes it.
func copyStream(w io.Writer, open func() (io.ReadCloser, error)) error {
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}

// portsText shows a session's ports as container port and protocol, to
// host port, in order.
func portsText(port map[string]int) string {
	var out []string
	for k, v := range port {
		out = append(out, fmt.Sprintf("%s->%d", k, v))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func createdAt(s client.Session) time.Time { return time.UnixMilli(s.Created) }

// describe writes the session as one field a line, for people to read.
func describe(tw *tabwriter.Writer, s client.Session, now time.Time) {
	dash := func(v string) string {
		if v == "" {
			return "-"
		}
		return v
	}
	players := dash(strings.Join(s.Players.Joined, ", "))
	for _, f := range [][2]string{
		{"Session", s.ID},
		{"External ID", dash(s.ExternalID)},
		{"Image", s.Image + ":" + s.Tag},
		{"Location", s.Location},
		{"Status", s.Status},
		{"Host", s.Host},
		{"Ports", dash(strings.ReplaceAll(portsText(s.Port), ",", ", "))},
		{"Players", players},
		{"Labels", pairsText(s.Labels)},
		{"Created", createdAt(s).UTC().Format(time.RFC3339) + " (" + age(now, createdAt(s)) + " ago)"},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
	}
	if s.StopReason != "" {
		reason := s.StopReason
		if s.StopMessage != "" {
			reason += ": " + s.StopMessage
		}
		fmt.Fprintf(tw, "Stop reason:\t%s\n", reason)
	}
}

func runLocations(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("arena locations", stdout, sessionUsage)
	server, token, output := fs.String("server", "", ""), fs.String("token", "", ""), outputFlag(fs, "json", "yaml")
	words, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(fs.Name(), words, "IMAGE"); err != nil {
		return err
	}
	l, err := newAPIClient(*server, *token).Sessions().AvailableLocations(ctx, words[0])
	if err != nil {
		return err
	}
	return output.print(stdout, l.Raw(), func(tw *tabwriter.Writer) error {
		fmt.Fprintln(tw, "LOCATION\tIPS")
		for _, loc := range l.Locations {
			fmt.Fprintf(tw, "%s\t%s\n", loc.ID, strings.Join(loc.IPs, " "))
		}
		return nil
	})
}

// runTag looks up a tag, for pipelines that gate a rollout on it: it exits
// non-zero while the tag cannot run, and with --wait keeps asking until it
// can or the wait is over.
func runTag(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("arena tag", stdout, sessionUsage)
	server, token, output := fs.String("server", "", ""), fs.String("token", "", ""), outputFlag(fs, "json", "yaml")
	wait := fs.Duration("wait", 0, "")
	words, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(fs.Name(), words, "REGION IMAGE VERSION"); err != nil {
		return err
	}
	c := newAPIClient(*server, *token)
	deadline := time.Now().Add(*wait)
	var tag client.TagStatus
	for {
		if tag, err = c.Sessions().Tag(ctx, words[0], words[1], words[2]); err != nil {
			return err
		}
		if tag.Exists || !time.Now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(2*time.Second, time.Until(deadline))):
		}
	}
	err = output.print(stdout, tag.Raw(), func(tw *tabwriter.Writer) error {
		fmt.Fprintln(tw, "REGION\tIMAGE\tVERSION\tEXISTS\tSTATUS\tNODES\tPRESENT\tPULLING\tFAILED")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%d\t%d\t%d\t%d\n", words[0], words[1], words[2], tag.Exists, tag.Status,
			tag.Nodes.Total, tag.Nodes.Present, tag.Nodes.Pulling, tag.Nodes.Failed)
		if tag.Error != "" {
			// A line without a tab: no column of the table.
			fmt.Fprintf(tw, "last pull error: %s\n", tag.Error)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !tag.Exists {
		return errTagAbsent
	}
	return nil
}

// errTagAbsent makes arena tag exit 1 without another message: the answer
// it printed says why.
var errTagAbsent = errors.New("the tag cannot run there yet")
