package rpc

import "time"

// WithResolveEvery sets how often, at most, the client looks its host
// names up again, so that a test need not wait the default between records.
func WithResolveEvery(d time.Duration) ClientOption {
	return func(c *Client) { c.resolveEvery = d }
}
