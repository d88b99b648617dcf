package postgres

import (
	"math"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// defaultConnectTimeout bounds a connection's start (TCP, TLS,
// authentication) when the store URL sets no connect_timeout: without one a
// connection to a database behind a partition, where packets vanish, would
// wait as long as whoever asked.
const defaultConnectTimeout = 10 * time.Second

// tuneConnections makes every connection of the store give up on a dead
// peer within about a lease, on both ends, so that a partition or a frozen
// process holds nothing for long:
//
//   - the client side (this process) sends TCP keepalives and sets
//     TCP_USER_TIMEOUT, so that a connection whose packets vanish fails
//     rather than waiting for the kernel's default of many minutes;
//   - the server side gets the same through the session parameters
//     tcp_keepalives_idle, tcp_keepalives_interval, tcp_keepalives_count and
//     tcp_user_timeout (PostgreSQL's defaults follow the kernel's: two hours
//     before the first keepalive), so that PostgreSQL ends the sessions of a
//     replica it can no longer reach;
//   - idle_in_transaction_session_timeout ends a session that stays in a
//     transaction without sending its next statement. The store's
//     transactions are sent statement after statement without waiting on
//     anything else, so a session idle in one for a lease belongs to a
//     process that is frozen or cut off: ending it releases the share lock
//     on the leader's epoch that its fenced write holds, which a new leader
//     waits for.
//
// What the store URL sets itself (connect_timeout, or any of the session
// parameters) is left as it is.
func tuneConnections(cfg *pgconn.Config, lease time.Duration) {
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	idle := max(time.Second, lease/3)
	d := &net.Dialer{
		Timeout: cfg.ConnectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{
			Enable: true, Idle: idle, Interval: time.Second, Count: keepaliveCount,
		},
		Control: userTimeout(lease),
	}
	cfg.DialFunc = d.DialContext
	params := map[string]string{
		"tcp_keepalives_idle":                 strconv.Itoa(int(math.Ceil(idle.Seconds()))),
		"tcp_keepalives_interval":             "1",
		"tcp_keepalives_count":                strconv.Itoa(keepaliveCount),
		"tcp_user_timeout":                    strconv.FormatInt(lease.Milliseconds(), 10),
		"idle_in_transaction_session_timeout": strconv.FormatInt(lease.Milliseconds(), 10),
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	for k, v := range params {
		if _, given := cfg.RuntimeParams[k]; !given {
			cfg.RuntimeParams[k] = v
		}
	}
}

// keepaliveCount is how many unanswered keepalive probes, a second apart,
// end a connection.
const keepaliveCount = 3
