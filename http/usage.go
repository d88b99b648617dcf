package http

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/arena-hq/arena"
)

// defaultUsagePeriod is the period a usage report covers when from is not given.
const defaultUsagePeriod = 30 * 24 * time.Hour

// DefaultCurrency is the currency usage reports name when WithCurrency
// names none.
const DefaultCurrency = "EUR"

// WithCurrency names the currency of the rates that usage is priced at, an
// ISO 4217 code such as EUR or USD; empty keeps DefaultCurrency. Reports
// name it with their costs, which are in the rates' currency.
func WithCurrency(code string) Option {
	return func(s *api) {
		if code != "" {
			s.currency = code
		}
	}
}

type (
	usageLine struct {
		Application string          `json:"application"`
		Location    string          `json:"location"`
		Profile     arena.Resources `json:"profile"`
		Sessions    int             `json:"sessions"`
		Seconds     int64           `json:"seconds"`
		Cost        float64         `json:"cost"`
		Priced      bool            `json:"priced"`
		// The time sessions waited in warm pools, apart and not billed.
		WarmPoolSessions int   `json:"warmPoolSessions"`
		WarmPoolSeconds  int64 `json:"warmPoolSeconds"`
	}
	usageOk struct {
		From         string      `json:"from"`
		To           string      `json:"to"`
		Lines        []usageLine `json:"lines"`
		TotalSeconds int64       `json:"totalSeconds"`
		TotalCost    float64     `json:"totalCost"`
		Currency     string      `json:"currency"`
		// TotalWarmPoolSeconds is not in TotalSeconds: it is not billed.
		TotalWarmPoolSeconds int64 `json:"totalWarmPoolSeconds"`
	}
)

func (s *api) usage(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	q := r.URL.Query()
	var v violations
	to := time.Now().UTC()
	if t := q.Get("to"); t != "" {
		parsed, err := time.Parse(time.RFC3339, t)
		if err != nil {
			v.add("to", "must be an RFC 3339 time such as 2026-11-01T00:00:00Z")
		}
		to = parsed
	}
	from := to.Add(-defaultUsagePeriod)
	if f := q.Get("from"); f != "" {
		parsed, err := time.Parse(time.RFC3339, f)
		if err != nil {
			v.add("from", "must be an RFC 3339 time such as 2026-11-01T00:00:00Z")
		}
		from = parsed
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		v.add("format", "must be json or csv")
	}
	if len(v) > 0 {
		return arena.Invalid(v...)
	}
	lines, err := s.sessions.Usage(r.Context(), tok.OrgID, from, to)
	if err != nil {
		return err
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="arena-usage.csv"`)
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"application", "location", "milli_cpu", "memory_mb", "sessions", "seconds", "cost", "currency", "warm_pool_sessions", "warm_pool_seconds"})
		for _, l := range lines {
			cost, currency := "", ""
			if l.Priced {
				cost, currency = strconv.FormatFloat(l.Cost, 'f', 6, 64), s.currency
			}
			_ = cw.Write([]string{l.Application, l.Location, strconv.FormatInt(l.Resources.MilliCPU, 10), strconv.FormatInt(l.Resources.MemoryMB, 10),
				strconv.Itoa(l.Sessions), strconv.FormatInt(l.Seconds, 10), cost, currency, strconv.Itoa(l.PoolSessions), strconv.FormatInt(l.PoolSeconds, 10)})
		}
		cw.Flush()
		return nil
	}
	out := usageOk{From: from.UTC().Format(time.RFC3339), To: to.UTC().Format(time.RFC3339), Lines: make([]usageLine, 0, len(lines)), Currency: s.currency}
	for _, l := range lines {
		out.Lines = append(out.Lines, usageLine{Application: l.Application, Location: l.Location, Profile: l.Resources,
			Sessions: l.Sessions, Seconds: l.Seconds, Cost: l.Cost, Priced: l.Priced, WarmPoolSessions: l.PoolSessions, WarmPoolSeconds: l.PoolSeconds})
		out.TotalSeconds += l.Seconds
		out.TotalWarmPoolSeconds += l.PoolSeconds
		out.TotalCost += l.Cost
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}
