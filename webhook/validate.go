package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/arena-hq/arena"
)

// MaxURL is the longest endpoint URL accepted.
const MaxURL = 2048

// ValidateEndpoint checks an endpoint as the admin API takes it: an absolute
// http or https URL of at most MaxURL characters, and known, distinct event
// types (none for all). It returns an EINVALID error listing every violation,
// with fields "url" and "events[i]".
func ValidateEndpoint(rawURL string, events []string) error {
	var v []arena.Violation
	if err := checkURL(rawURL); err != nil {
		v = append(v, arena.Violation{Field: "url", Description: err.Error()})
	}
	seen := make(map[string]bool, len(events))
	for i, e := range events {
		field := fmt.Sprintf("events[%d]", i)
		switch {
		case !ValidEventType(e):
			v = append(v, arena.Violation{Field: field, Description: "must be one of " + strings.Join(EventTypes, ", ")})
		case seen[e]:
			v = append(v, arena.Violation{Field: field, Description: "is listed twice"})
		}
		seen[e] = true
	}
	if len(v) > 0 {
		return arena.Invalid(v...)
	}
	return nil
}

// checkURL is ValidateEndpoint's check of a URL, and the dispatcher's before
// every attempt: an endpoint that reached the store some other way must not
// make Arena request file:, gopher: or other schemes a transport may know.
func checkURL(raw string) error {
	switch {
	case raw == "":
		return errors.New("is required")
	case len(raw) > MaxURL:
		return fmt.Errorf("must be at most %d characters", MaxURL)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("must be a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must be an http or https URL")
	case u.Host == "" || u.Hostname() == "":
		return errors.New("must name a host")
	}
	return nil
}
