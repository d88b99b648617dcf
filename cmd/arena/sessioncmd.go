package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

const sessionUsage = `Usage:
  arena session create --location L --image I [--version V] [--id ID] [--env K=V]...
                       [--arg A]... [--label K=V]... [--ttl 30m] [--restart]
  arena session list [--all] [--location L] [--image I] [--tag T] [--host H]
                     [--label K=V]... [--players-lt N] [--players-gt N]
  arena session get ID
  arena session delete ID
  arena session logs ID [--follow]         the session's output, live with --follow
  arena session artifact ID PATH --out F   download what was kept at PATH (.tar.gz)
  arena session join ID PLAYER...          record players as joined
  arena session leave PLAYER... [--session ID]
  arena locations IMAGE                    locations that can host IMAGE now
  arena tag REGION IMAGE VERSION [--wait D]
                                           whether VERSION can run in REGION now;
                                           exits 1 while it cannot, --wait polls

Flags:
  --server URL    control plane (env ARENA_SERVER; default http://127.0.0.1:8080)
  --token TOKEN   the organisation's token (env ARENA_TOKEN)
  -o table|json   output format (default table)
`

// pairs is a repeatable K=V flag.
type pairs map[string]string

func (p pairs) String() string { return fmt.Sprint(map[string]string(p)) }

func (p pairs) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	p[k] = val
	return nil
}

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, " ") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

// apiClient is the CLI's view of the Session API.
type apiClient struct {
	base, token string
}

// newAPIClient is the client the flags --server and --token name, or the
// environment's ARENA_SERVER and ARENA_TOKEN.
func newAPIClient(server, token string) apiClient {
	return apiClient{
		base:  strings.TrimSuffix(pick(server, os.Getenv("ARENA_SERVER"), "http://127.0.0.1:8080"), "/"),
		token: pick(token, os.Getenv("ARENA_TOKEN")),
	}
}

func (c apiClient) call(ctx context.Context, method, path string, body any) ([]byte, error) {
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	return apiCall(ctx, method, c.base+path, c.token, data)
}

func runSession(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("arena session", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, sessionUsage) }
	server, token, output := fs.String("server", "", ""), fs.String("token", "", ""), fs.String("o", "table", "")
	location, image, version, id := fs.String("location", "", ""), fs.String("image", "", ""), fs.String("version", "", ""), fs.String("id", "", "")
	tag, host, session := fs.String("tag", "", ""), fs.String("host", "", ""), fs.String("session", "", "")
	ttl := fs.Duration("ttl", 0, "")
	restart, all, follow := fs.Bool("restart", false, ""), fs.Bool("all", false, ""), fs.Bool("follow", false, "")
	out := fs.String("out", "", "")
	lt, gt := fs.Int("players-lt", -1, ""), fs.Int("players-gt", -1, "")
	env, labels := pairs{}, pairs{}
	var argv list
	fs.Var(env, "env", "")
	fs.Var(labels, "label", "")
	fs.Var(&argv, "arg", "")
	words, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *output != "table" && *output != "json" {
		return fmt.Errorf("-o must be table or json")
	}
	if len(words) == 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	c := newAPIClient(*server, *token)
	show := func(body []byte, table func(*tabwriter.Writer) error) error {
		if *output == "json" {
			_, err := stdout.Write(append(body, '\n'))
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		if err := table(tw); err != nil {
			return err
		}
		return tw.Flush()
	}
	var body []byte
	switch cmd, rest := words[0], words[1:]; {
	case cmd == "create" && len(rest) == 0:
		req := map[string]any{"location": *location, "image": *image, "env": env, "labels": labels, "args": []string(argv), "restart": *restart}
		if *version != "" {
			req["version"] = *version
		}
		if *id != "" {
			req["id"] = *id
		}
		if *ttl > 0 {
			req["ttl"] = int64(ttl.Round(time.Second) / time.Second)
		}
		if body, err = c.call(ctx, nethttp.MethodPost, "/session", req); err != nil {
			return err
		}
		return show(body, func(tw *tabwriter.Writer) error {
			var s struct {
				ID, Host string
				Ports    []struct {
					Type            string
					Container, Host int
				}
			}
			if err := json.Unmarshal(body, &s); err != nil {
				return err
			}
			fmt.Fprintf(tw, "SESSION\t%s\nHOST\t%s\n", s.ID, s.Host)
			for _, p := range s.Ports {
				fmt.Fprintf(tw, "PORT\t%d/%s -> %s:%d\n", p.Container, p.Type, s.Host, p.Host)
			}
			return nil
		})
	case cmd == "list" && len(rest) == 0:
		q := url.Values{}
		for k, v := range map[string]string{"location": *location, "image": *image, "tag": *tag, "host": *host} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if *all {
			q.Set("all", "true")
		}
		for k, v := range labels {
			q.Set("filter["+k+"]", v)
		}
		if *lt >= 0 {
			q.Set("playerCount[lt]", fmt.Sprint(*lt))
		}
		if *gt >= 0 {
			q.Set("playerCount[gt]", fmt.Sprint(*gt))
		}
		if body, err = c.call(ctx, nethttp.MethodGet, "/session?"+q.Encode(), nil); err != nil {
			return err
		}
		return show(body, func(tw *tabwriter.Writer) error {
			var l struct{ Sessions []sessionJSON }
			if err := json.Unmarshal(body, &l); err != nil {
				return err
			}
			fmt.Fprintln(tw, "SESSION\tIMAGE\tTAG\tLOCATION\tSTATUS\tHOST\tPORTS\tPLAYERS\tCREATED")
			for _, s := range l.Sessions {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.ID, s.Image, s.Tag, s.Location, s.Status, s.Host, s.ports(), s.PlayerCount, s.created())
			}
			return nil
		})
	case cmd == "get" && len(rest) == 1:
		if body, err = c.call(ctx, nethttp.MethodGet, "/session/"+url.PathEscape(rest[0])+"?all=true", nil); err != nil {
			return err
		}
		return show(body, func(tw *tabwriter.Writer) error {
			var s sessionJSON
			if err := json.Unmarshal(body, &s); err != nil {
				return err
			}
			fmt.Fprintf(tw, "SESSION\t%s\nIMAGE\t%s:%s\nLOCATION\t%s\nSTATUS\t%s\nHOST\t%s\nPORTS\t%s\nPLAYERS\t%s\nLABELS\t%v\nCREATED\t%s\n",
				s.ID, s.Image, s.Tag, s.Location, s.Status, s.Host, s.ports(), strings.Join(s.Players.Joined, " "), s.Labels, s.created())
			return nil
		})
	case cmd == "logs" && len(rest) == 1:
		return c.logs(ctx, rest[0], *follow, stdout)
	case cmd == "artifact" && len(rest) == 2:
		if *out == "" {
			return fmt.Errorf("--out FILE names where the .tar.gz goes")
		}
		q := url.Values{"session": {rest[0]}, "path": {rest[1]}}
		n, err := c.download(ctx, "/artifacts?"+q.Encode(), *out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d bytes\n", *out, n)
		return nil
	case cmd == "delete" && len(rest) == 1:
		if _, err := c.call(ctx, nethttp.MethodDelete, "/session/"+url.PathEscape(rest[0]), nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "session %s is stopping\n", rest[0])
		return nil
	case cmd == "join" && len(rest) >= 2:
		body, err = c.call(ctx, nethttp.MethodPut, "/session/player/join", map[string]any{"session": rest[0], "players": rest[1:]})
	case cmd == "leave" && len(rest) >= 1:
		req := map[string]any{"players": rest}
		if *session != "" {
			req["session"] = *session
		}
		body, err = c.call(ctx, nethttp.MethodDelete, "/session/player/leave", req)
	default:
		fs.Usage()
		return fmt.Errorf("unknown session command %q", strings.Join(words, " "))
	}
	if err != nil {
		return err
	}
	return show(body, func(tw *tabwriter.Writer) error {
		var p struct {
			Count   int
			Players []string
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return err
		}
		fmt.Fprintf(tw, "PLAYERS\t%s\nCOUNT\t%d\n", strings.Join(p.Players, " "), p.Count)
		return nil
	})
}

// download streams a GET's body into a new file, whatever its size and
// however long it takes; a body cut short is an error, not a file.
func (c apiClient) download(ctx context.Context, path, file string) (int64, error) {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	err = c.stream(ctx, path, f)
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
func (c apiClient) logs(ctx context.Context, id string, follow bool, w io.Writer) error {
	q := url.Values{"id": {id}}
	if follow {
		q.Set("follow", "true")
	}
	err := c.stream(ctx, "/logs?"+q.Encode(), w)
	if ctx.Err() != nil {
		return nil // interrupted while following: that is how following ends
	}
	return err
}

// stream copies a GET's body to w, with no deadline but the caller's.
func (c apiClient) stream(ctx context.Context, path string, w io.Writer) error {
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != nethttp.StatusOK {
		var e struct{ Message string }
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
		return fmt.Errorf("%s: %s", resp.Status, e.Message)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// sessionJSON is a session as the API describes it.
type sessionJSON struct {
	ID, Image, Tag, Location, Host, Status string
	Created                                int64
	Port                                   map[string]int
	Labels                                 map[string]string
	PlayerCount                            int
	Players                                struct{ Joined []string }
}

func (s sessionJSON) ports() string {
	var out []string
	for k, v := range s.Port {
		out = append(out, fmt.Sprintf("%s->%d", k, v))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func (s sessionJSON) created() string {
	return time.UnixMilli(s.Created).UTC().Format(time.RFC3339)
}

func runLocations(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("arena locations", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, sessionUsage) }
	server, token, output := fs.String("server", "", ""), fs.String("token", "", ""), fs.String("o", "table", "")
	words, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(words) != 1 {
		fs.Usage()
		return fmt.Errorf("arena locations takes one image")
	}
	c := newAPIClient(*server, *token)
	body, err := c.call(ctx, nethttp.MethodGet, "/available-location/"+url.PathEscape(words[0]), nil)
	if err != nil {
		return err
	}
	if *output == "json" {
		_, err := stdout.Write(append(body, '\n'))
		return err
	}
	var l struct {
		Locations []struct {
			ID  string
			IPs []string
		}
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LOCATION\tIPS")
	for _, loc := range l.Locations {
		fmt.Fprintf(tw, "%s\t%s\n", loc.ID, strings.Join(loc.IPs, " "))
	}
	return tw.Flush()
}

// runTag looks up a tag, for pipelines that gate a rollout on it: it exits
// non-zero while the tag cannot run, and with --wait keeps asking until it
// can or the wait is over.
func runTag(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("arena tag", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, sessionUsage) }
	server, token, output := fs.String("server", "", ""), fs.String("token", "", ""), fs.String("o", "table", "")
	wait := fs.Duration("wait", 0, "")
	words, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(words) != 3 {
		fs.Usage()
		return fmt.Errorf("arena tag takes a region, an image and a version")
	}
	c := newAPIClient(*server, *token)
	path := "/tag/" + url.PathEscape(words[0]) + "/" + url.PathEscape(words[1]) + "/" + url.PathEscape(words[2])
	deadline := time.Now().Add(*wait)
	var body []byte
	type tagAnswer struct {
		Exists bool
		Status string
		Nodes  struct{ Total, Present, Pulling, Failed int }
		Error  string
	}
	var tag tagAnswer
	for {
		if body, err = c.call(ctx, nethttp.MethodGet, path, nil); err != nil {
			return err
		}
		// Decoded afresh: an error an earlier answer had is gone from this one.
		tag = tagAnswer{}
		if err := json.Unmarshal(body, &tag); err != nil {
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
	if *output == "json" {
		if _, err := stdout.Write(append(body, '\n')); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "REGION\tIMAGE\tVERSION\tEXISTS\tSTATUS\tNODES\tPRESENT\tPULLING\tFAILED")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%d\t%d\t%d\t%d\n", words[0], words[1], words[2], tag.Exists, tag.Status,
			tag.Nodes.Total, tag.Nodes.Present, tag.Nodes.Pulling, tag.Nodes.Failed)
		if err := tw.Flush(); err != nil {
			return err
		}
		if tag.Error != "" {
			fmt.Fprintf(stdout, "last pull error: %s\n", tag.Error)
		}
	}
	if !tag.Exists {
		return errTagAbsent
	}
	return nil
}

// errTagAbsent makes arena tag exit 1 without another message: the answer
// it printed says why.
var errTagAbsent = errors.New("the tag cannot run there yet")
