package session

import (
	"context"
	"sync"

	"github.com/arena-hq/arena"
)

// subscriber queues a node's assignments so that publishing never blocks on a
// slow agent and never drops an update.
type subscriber struct {
	mu     sync.Mutex
	queue  []arena.Assignment
	notify chan struct{}
	done   chan struct{}
}

func (sub *subscriber) push(a arena.Assignment) {
	sub.mu.Lock()
	sub.queue = append(sub.queue, a)
	sub.mu.Unlock()
	select {
	case sub.notify <- struct{}{}:
	default:
	}
}

// drain hands what is queued to out, in order, until ctx ends, the stream
// is ended (done) or closed is.
func (sub *subscriber) drain(ctx context.Context, out chan<- arena.Assignment, closed <-chan struct{}) {
	for {
		sub.mu.Lock()
		batch := sub.queue
		sub.queue = nil
		sub.mu.Unlock()
		for _, a := range batch {
			select {
			case out <- a:
			case <-ctx.Done():
				return
			case <-sub.done:
				return
			}
		}
		select {
		case <-sub.notify:
		case <-ctx.Done():
			return
		case <-sub.done:
			return
		case <-closed:
			return
		}
	}
}

// nodeStreams holds the assignment streams of the connected nodes' agents,
// one a node. Its lock is taken after Service.mu, never before it.
type nodeStreams struct {
	mu   sync.Mutex
	subs map[string]*subscriber
	// disconnected refuses streams once the control plane shuts down.
	disconnected bool
}

func newNodeStreams() *nodeStreams { return &nodeStreams{subs: map[string]*subscriber{}} }

// open makes a new stream the node's, with first queued, and ends the
// node's previous one.
func (n *nodeStreams) open(nodeID string, first arena.Assignment) (*subscriber, error) {
	sub := &subscriber{notify: make(chan struct{}, 1), done: make(chan struct{})}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.disconnected {
		return nil, arena.Errorf(arena.EUNAVAILABLE, "the control plane is shutting down")
	}
	if old, ok := n.subs[nodeID]; ok {
		close(old.done)
	}
	n.subs[nodeID] = sub
	sub.push(first)
	return sub, nil
}

// close forgets sub, a stream that ended, and reports whether it was still
// the node's: then the node has no stream any more.
func (n *nodeStreams) close(nodeID string, sub *subscriber) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.subs[nodeID] != sub {
		return false
	}
	delete(n.subs, nodeID)
	return true
}

// send queues a on the node's stream and reports whether it has one.
func (n *nodeStreams) send(nodeID string, a arena.Assignment) bool {
	n.mu.Lock()
	sub := n.subs[nodeID]
	n.mu.Unlock()
	if sub != nil {
		sub.push(a)
	}
	return sub != nil
}

// sendEach queues on every stream what of(nodeID) makes for its node; the
// caller holds Service.mu when of reads the sessions.
func (n *nodeStreams) sendEach(of func(nodeID string) arena.Assignment) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for nodeID, sub := range n.subs {
		sub.push(of(nodeID))
	}
}

// connected reports whether the node has a stream.
func (n *nodeStreams) connected(nodeID string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.subs[nodeID] != nil
}

// disconnect ends every stream and refuses new ones.
func (n *nodeStreams) disconnect() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.disconnected = true
	for id, sub := range n.subs {
		close(sub.done)
		delete(n.subs, id)
	}
}
