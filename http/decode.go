package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	// encoding/json takes both of these silently, and a field meaning two
	// things to two readers is how a request gets past one of them.
	if field, ok := repeatedKey(body); ok {
		return nil, arena.Invalid(arena.Violation{Field: field, Description: "is given more than once"})
	}
	if at, ok := unpairedSurrogate(body); ok {
		return nil, invalid(fmt.Sprintf("must be UTF-8 text: the escape at byte %d is half of a UTF-16 surrogate pair", at))
	}
	return fields, nil
}

// repeatedKey returns the first key that an object of body, which is valid
// JSON, holds twice, named as violations name fields: "image", "env.KEY",
// "ports[1].protocol".
func repeatedKey(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var walk func(path string) (string, bool)
	walk = func(path string) (string, bool) {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				t, err := dec.Token()
				if err != nil {
					return "", false
				}
				key, _ := t.(string)
				field := key
				if path != "" {
					field = path + "." + key
				}
				if seen[key] {
					return field, true
				}
				seen[key] = true
				if f, ok := walk(field); ok {
					return f, true
				}
			}
			_, _ = dec.Token() // }
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if f, ok := walk(fmt.Sprintf("%s[%d]", path, i)); ok {
					return f, true
				}
			}
			_, _ = dec.Token() // ]
		}
		return "", false
	}
	return walk("")
}

// unpairedSurrogate returns the offset of a \u escape in body, which is
// valid JSON, of a UTF-16 surrogate without its other half: encoding/json
// turns it into U+FFFD, so that the text is not what was sent.
func unpairedSurrogate(body []byte) (int, bool) {
	inString := false
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case !inString:
			inString = c == '"'
		case c == '"':
			inString = false
		case c == '\\' && i+1 < len(body) && body[i+1] == 'u':
			r, ok := hex4(body, i+2)
			switch {
			case !ok:
			case r >= 0xDC00 && r <= 0xDFFF:
				return i, true
			case r >= 0xD800 && r <= 0xDBFF:
				low, ok := rune(0), i+11 < len(body) && body[i+6] == '\\' && body[i+7] == 'u'
				if ok {
					low, ok = hex4(body, i+8)
				}
				if !ok || low < 0xDC00 || low > 0xDFFF {
					return i, true
				}
				i += 6
			}
			i += 5
		case c == '\\':
			i++ // an escaped character: \" does not end the string
		}
	}
	return 0, false
}

// hex4 decodes the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[i:i+4]), 16, 16)
	return rune(n), err == nil
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

// readBody reads a JSON request body of at most maxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := checkMediaType(r.Header.Values("Content-Type")); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, arena.Invalid(arena.Violation{Field: "body", Description: fmt.Sprintf("must be at most %d bytes", maxBodyBytes)})
	case err != nil:
		return nil, arena.Invalid(arena.Violation{Field: "body", Description: "could not be read"})
	case !utf8.Valid(body):
		// encoding/json would take each bad byte as U+FFFD: the text
		// decoded would not be the text sent.
		return nil, arena.Invalid(arena.Violation{Field: "body", Description: fmt.Sprintf("must be UTF-8 text: byte %d is not", invalidUTF8At(body))})
	}
	return body, nil
}

// checkMediaType refuses, before the body is read, a body that does not say
// it is JSON: application/json or a structured application/*+json type, in
// UTF-8 if it names a charset. No Content-Type at all is taken as JSON, as
// clients of the Gameye API send it that way too; a form, which curl -d
// sends unless told otherwise, is not.
func checkMediaType(values []string) error {
	if len(values) == 0 {
		return nil
	}
	unsupported := func(format string, args ...any) error {
		return arena.Errorf(codeUnsupportedMediaType, "the body must be JSON (Content-Type: application/json): "+format, args...)
	}
	if len(values) > 1 {
		return unsupported("Content-Type is given %d times", len(values))
	}
	mt, params, err := mime.ParseMediaType(values[0])
	switch {
	case err != nil:
		return unsupported("%q is not a media type", values[0])
	case mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")):
		return unsupported("%s is not JSON", mt)
	case params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8"):
		return unsupported("JSON is UTF-8, not %s", params["charset"])
	}
	return nil
}

// invalidUTF8At returns the offset of the first byte of b that is not part
// of a valid UTF-8 sequence.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}
