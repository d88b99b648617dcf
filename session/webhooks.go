package session

import (
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/webhook"
)

// EventPublisher receives the sessions' lifecycle events.
// *webhook.Dispatcher implements it. Publish must not block: the control
// plane calls it while it holds the session's lock.
type EventPublisher interface {
	Publish(webhook.Event)
}

// events publishes the sessions' lifecycle events to whoever listens.
type events struct {
	pub EventPublisher
	now func() time.Time
}

// emit hands the webhooks the event of sess's new state, if that state has one
// (restarting and stopping have none). Callers call it once the change is in
// the store, holding the session's entry lock, so that a receiver never
// hears of a state that a restart of the control plane would forget, and one
// session's events are published in the order of its changes.
//
// The event's time is when the change was recorded, not when it happened on
// the node: a report that arrives late (from a node back after a partition)
// or a loss dated at the node's last heartbeat tells of the past, and
// receivers order a session's events by their time.
func (ev events) emit(sess *arena.Session) {
	if ev.pub == nil || sess.Pool != "" {
		return // nobody's yet: a warm pool's session is told of once claimed
	}
	e, ok := webhook.SessionEvent(sess, ev.now())
	if !ok {
		return
	}
	ev.pub.Publish(e)
}
