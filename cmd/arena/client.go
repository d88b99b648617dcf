package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/arena-hq/arena"
)

// apiClient is the CLI's view of the Session API and the admin API.
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

// call sends a request with body as JSON (when it is not nil) and returns
// the body of a 2xx answer, or an *apiError.
func (c apiClient) call(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := nethttp.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
}

// stream copies a GET's body to w, with no deadline but the caller's.
func (c apiClient) stream(ctx context.Context, path string, w io.Writer) error {
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

// do sends req with the token and returns a 2xx answer: any other is an
// *apiError, and a control plane out of reach says so with a hint.
func (c apiClient) do(req *nethttp.Request) (*nethttp.Response, error) {
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		return nil, c.unreachable(err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
	return nil, &apiError{status: resp.Status, err: &arena.Error{Code: e.Code, Message: e.Message}}
}

// unreachable explains a request that found no control plane to answer it,
// which is most often one not running or another address to be given.
func (c apiClient) unreachable(err error) error {
	var op *net.OpError
	if !errors.As(err, &op) {
		return err
	}
	var reason error = op
	if op.Err != nil {
		reason = op.Err
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		reason = syscall.ECONNREFUSED
	}
	return fmt.Errorf("cannot reach Arena at %s: %w (is it running? set --server or ARENA_SERVER)", c.base, reason)
}

// apiError is an error answer of the API. It reads as the status line and
// the message, and carries the answer's code as an *arena.Error, by which
// the CLI tells errors apart.
type apiError struct {
	status string
	err    *arena.Error
}

func (e *apiError) Error() string {
	if e.err.Message == "" {
		return e.status
	}
	return e.status + ": " + e.err.Message
}

func (e *apiError) Unwrap() error { return e.err }

// isNotFound tells whether the API answered err's request 404.
func isNotFound(err error) bool {
	var e *apiError
	return errors.As(err, &e) && e.err.Code == arena.ENOTFOUND
}

// byPrefix returns the ids of ids that begin with prefix, so that an id
// may be given as its first few characters as long as no other shares them.
func byPrefix(prefix string, ids []string) []string {
	var found []string
	for _, id := range ids {
		if strings.HasPrefix(id, prefix) {
			found = append(found, id)
		}
	}
	sort.Strings(found)
	return found
}

// resolvePrefix runs do with id, and when the API knows nothing of that id,
// again with the one id of those list returns that begins with it. Several
// such ids are an error that lists them; none leaves the API's answer.
func resolvePrefix(kind, id string, do func(id string) error, list func() ([]string, error)) error {
	err := do(id)
	if !isNotFound(err) || id == "" {
		return err
	}
	ids, lerr := list()
	if lerr != nil {
		return err
	}
	switch found := byPrefix(id, ids); len(found) {
	case 0:
		return err
	case 1:
		return do(found[0])
	default:
		return fmt.Errorf("%q is ambiguous: it begins the ids of %d %ss: %s", id, len(found), kind, strings.Join(found, ", "))
	}
}

// sessionIDs lists the ids of the organisation's sessions, active ones or
// all of them, but for those with one of the statuses excluded.
func (c apiClient) sessionIDs(ctx context.Context, all bool, excluded ...string) ([]string, error) {
	path := "/session"
	if all {
		path += "?all=true"
	}
	body, err := c.call(ctx, nethttp.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	var l struct{ Sessions []struct{ ID, Status string } }
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	var ids []string
	for _, s := range l.Sessions {
		if !slices.Contains(excluded, s.Status) {
			ids = append(ids, s.ID)
		}
	}
	return ids, nil
}

// nodeIDs lists the ids of the installation's nodes.
func (c apiClient) nodeIDs(ctx context.Context) ([]string, error) {
	body, err := c.call(ctx, nethttp.MethodGet, "/admin/v1/nodes", nil)
	if err != nil {
		return nil, err
	}
	var l struct {
		Nodes []struct {
			ID string `json:"id"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	ids := make([]string, len(l.Nodes))
	for i, n := range l.Nodes {
		ids[i] = n.ID
	}
	return ids, nil
}
