package session

import "github.com/arena-hq/arena"

// Store is what the control plane keeps: every store interface of the
// arena package. sqlite.Store and postgres.Store implement it.
type Store = arena.Store

// SessionQuery selects sessions from the store.
type SessionQuery = arena.SessionQuery
