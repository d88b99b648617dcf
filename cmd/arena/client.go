package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
)

// unreachableHint follows the error of a control plane out of reach, which
// is most often one not running or another address to be given: the CLI's
// own words, as they name its flags.
const unreachableHint = " (is it running? set --server or ARENA_SERVER)"

// newAPIClient is the client the flags --server and --token name, or the
// environment's ARENA_SERVER and ARENA_TOKEN.
func newAPIClient(server, token string) *client.Client {
	return client.New(pick(server, os.Getenv("ARENA_SERVER"), "http://127.0.0.1:8080"), pick(token, os.Getenv("ARENA_TOKEN")))
}

// isNotFound tells whether the API answered err's request 404.
func isNotFound(err error) bool {
	var e *client.APIError
	return errors.As(err, &e) && e.Err.Code == arena.ENOTFOUND
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
func sessionIDs(ctx context.Context, c *client.Client, all bool, excluded ...string) ([]string, error) {
	l, err := c.Sessions().List(ctx, client.ListOptions{All: all})
	if err != nil {
		return nil, err
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
func nodeIDs(ctx context.Context, c *client.Client) ([]string, error) {
	l, err := c.Nodes().List(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(l.Nodes))
	for i, n := range l.Nodes {
		ids[i] = n.ID
	}
	return ids, nil
}
