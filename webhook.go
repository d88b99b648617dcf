package arena

import "time"

// MaxWebhooksPerOrg is how many webhook endpoints one organisation may
// register: every session change is sent to each of them, so the number
// bounds the work one organisation's sessions make.
const MaxWebhooksPerOrg = 16

// Webhook is a URL an organisation registered to receive its sessions'
// lifecycle events; package webhook signs and delivers them.
type Webhook struct {
	ID    string
	OrgID string
	URL   string
	// SealedSecret is the endpoint's signing secret encrypted by the control
	// plane, the only form stores keep: unlike a token, the secret cannot be
	// kept as a hash, since every delivery is signed with it.
	SealedSecret []byte
	// Events lists the event types the endpoint receives; empty for all.
	Events    []string
	CreatedAt time.Time
}

// WebhookDelivery is an event on its way to one webhook endpoint. It is kept
// from the event's fan-out until the endpoint accepts it, refuses it for
// good, or is given up on, so that a control plane that stops (or a new
// leader) resumes the deliveries the last one had not finished.
type WebhookDelivery struct {
	ID        string
	OrgID     string
	WebhookID string
	EventID   string
	EventType string
	// Body is the event as it is signed and sent: the same bytes on every
	// attempt, whoever makes it.
	Body []byte
	// Attempts counts the attempts made so far; NextAt is when the next is due.
	Attempts int
	NextAt   time.Time
}
