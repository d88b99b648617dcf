package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/arena-hq/arena"
)

// decodeSessionRun reads the body of POST /session into a request that passed
// Validate. Decoding is strict, field by field rather than into a struct, so
// that every unknown field and every value of the wrong type is named in one
// answer, and so that null and empty values of optional fields mean absent.
func decodeSessionRun(w http.ResponseWriter, r *http.Request) (arena.SessionRequest, error) {
	var req arena.SessionRequest
	body, err := readBody(w, r)
	if err != nil {
		return req, err
	}
	fields, err := jsonObject(body)
	if err != nil {
		return req, err
	}
	var v violations
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		raw := fields[k]
		switch k {
		case "id":
			req.ID = v.string(k, raw)
		case "location":
			req.Location = v.string(k, raw)
		case "image":
			req.Image = v.string(k, raw)
		case "version":
			req.Version = v.string(k, raw)
		case "env":
			req.Env = v.stringMap(k, raw, false)
		case "args":
			req.Args = v.stringList(k, raw)
		case "labels":
			req.Labels = v.stringMap(k, raw, true)
		case "ttl":
			req.TTL = v.ttl(k, raw)
		case "external_id":
			req.ExternalID = v.string(k, raw)
		case "restart":
			req.Restart = v.bool(k, raw)
		default:
			v.add(k, "is not a field of SessionRun")
		}
	}
	// A field that could not be decoded is reported once, by its decoding
	// problem, not again as, say, missing.
	for _, x := range arena.ErrorViolations(req.Validate()) {
		if !v.has(x.Field) {
			v = append(v, x)
		}
	}
	if len(v) > 0 {
		return arena.SessionRequest{}, arena.Invalid(v...)
	}
	return req, nil
}

// jsonObject splits a body holding exactly one JSON object into its fields.
func jsonObject(body []byte) (map[string]json.RawMessage, error) {
	invalid := func(description string) error {
		return arena.Invalid(arena.Violation{Field: "body", Description: description})
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, invalid("is required: a JSON object")
	}
	if body[0] != '{' {
		return nil, invalid("must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, invalid(fmt.Sprintf("is not valid JSON: %s at byte %d", syntax, syntax.Offset))
		}
		return nil, invalid("is not valid JSON")
	}
	if err := dec.Decode(new(json.RawMessage)); err != io.EOF {
		return nil, invalid("must hold a single JSON object")
	}
	return fields, nil
}

// kind returns the first byte of a JSON value, which tells its type: 'n' for
// null, '"', '{', '[', 't' or 'f', and '-' or a digit for a number.
func kind(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

func (v *violations) string(field string, raw json.RawMessage) string {
	var s string
	switch kind(raw) {
	case 'n':
		return ""
	case '"':
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	v.add(field, "must be a string")
	return ""
}

func (v *violations) bool(field string, raw json.RawMessage) bool {
	var b bool
	switch kind(raw) {
	case 'n':
		return false
	case 't', 'f':
		if json.Unmarshal(raw, &b) == nil {
			return b
		}
	}
	v.add(field, "must be a boolean")
	return false
}

// stringMap decodes an object of strings; entries are named field.key.
// An empty object is returned as nil: it means absent.
func (v *violations) stringMap(field string, raw json.RawMessage, allowEmptyValues bool) map[string]string {
	if kind(raw) == 'n' {
		return nil
	}
	var m map[string]json.RawMessage
	if kind(raw) != '{' || json.Unmarshal(raw, &m) != nil {
		v.add(field, "must be an object of strings")
		return nil
	}
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		name := field + "." + k
		var s string
		switch {
		case kind(m[k]) != '"' || json.Unmarshal(m[k], &s) != nil:
			v.add(name, "must be a string")
		case s == "" && !allowEmptyValues:
			v.add(name, "must not be empty")
		default:
			out[k] = s
		}
	}
	return out
}

// stringList decodes an array of non-empty strings; items are named field[i].
// An empty array is returned as nil: it means absent.
func (v *violations) stringList(field string, raw json.RawMessage) []string {
	if kind(raw) == 'n' {
		return nil
	}
	var items []json.RawMessage
	if kind(raw) != '[' || json.Unmarshal(raw, &items) != nil {
		v.add(field, "must be an array of strings")
		return nil
	}
	if len(items) == 0 {
		return nil
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		name := fmt.Sprintf("%s[%d]", field, i)
		var s string
		switch {
		case kind(item) != '"' || json.Unmarshal(item, &s) != nil:
			v.add(name, "must be a string")
		case s == "":
			v.add(name, "must not be empty")
		default:
			out = append(out, s)
		}
	}
	return out
}

// ttl decodes a lifetime given either way the contract's revisions have
// it: an integer number of seconds, or a duration string of hours and
// minutes ("30m", "2h30m") rounded up to a minute.
func (v *violations) ttl(field string, raw json.RawMessage) time.Duration {
	if kind(raw) != '"' {
		return v.seconds(field, raw)
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		v.add(field, "must be a string")
		return 0
	}
	d, err := arena.ParseLifetime(s)
	if err != nil {
		v.add(field, err.Error())
		return 0
	}
	return d
}

// seconds decodes an integer number of seconds. A number too large for a
// Duration saturates instead of wrapping, so that Validate sees it out of range.
func (v *violations) seconds(field string, raw json.RawMessage) time.Duration {
	k := kind(raw)
	if k == 'n' {
		return 0
	}
	if k != '-' && (k < '0' || k > '9') {
		v.add(field, "must be whole seconds or a duration in hours and minutes such as 30m, 1h or 2h30m")
		return 0
	}
	f, err := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64)
	if (err != nil && !errors.Is(err, strconv.ErrRange)) || f != math.Trunc(f) {
		v.add(field, "must be an integer number of seconds")
		return 0
	}
	const limit = float64(math.MaxInt64 / int64(time.Second))
	switch {
	case f > limit:
		return math.MaxInt64
	case f < -limit:
		return math.MinInt64
	}
	return time.Duration(f) * time.Second
}

// violations collects the problems of a request so that all of them are
// reported at once.
type violations []arena.Violation

func (v *violations) add(field, description string) {
	*v = append(*v, arena.Violation{Field: field, Description: description})
}

// has reports whether field already has a violation.
func (v violations) has(field string) bool {
	return slices.ContainsFunc(v, func(x arena.Violation) bool { return x.Field == field })
}

// maxBodyBytes bounds the memory one request body can take; it is far
// above any SessionRun a game server plausibly needs.
const maxBodyBytes = 1 << 20

// readBody reads a request body of at most maxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, arena.Invalid(arena.Violation{Field: "body", Description: fmt.Sprintf("must be at most %d bytes", maxBodyBytes)})
	case err != nil:
		return nil, arena.Invalid(arena.Violation{Field: "body", Description: "could not be read"})
	}
	return body, nil
}
