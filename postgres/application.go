package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arena-hq/arena"
)

// applicationDoc is the stored form of the fields of arena.Application that
// are not columns; see sessionDoc for why it has names of its own. Its names
// and forms are those of the SQLite store's document. It has no field for
// Registry on purpose: the plaintext credentials are never stored, only
// SealedRegistry, which is a column of its own.
type applicationDoc struct {
	Repository    string            `json:"repository"`
	Tags          []tagDoc          `json:"tags"`
	Ports         []portSpecDoc     `json:"ports"`
	Network       string            `json:"network"`
	MilliCPU      int64             `json:"milliCpu"`
	MemoryMB      int64             `json:"memoryMb"`
	Env           map[string]string `json:"env"`
	Args          []string          `json:"args"`
	StopGrace     int64             `json:"stopGraceNs"`
	ArtifactPaths []string          `json:"artifactPaths"`
}

type tagDoc struct {
	Name     string `json:"name"`
	Priority int    `json:"priority"`
}

type portSpecDoc struct {
	Container int    `json:"container"`
	Protocol  string `json:"protocol"`
}

// encodeApplication returns the document of a. pgx encodes it as JSON for
// the jsonb column.
func encodeApplication(a *arena.Application) applicationDoc {
	d := applicationDoc{
		Repository:    a.Repository,
		Network:       string(a.Network),
		MilliCPU:      a.Resources.MilliCPU,
		MemoryMB:      a.Resources.MemoryMB,
		Env:           a.Env,
		Args:          a.Args,
		StopGrace:     int64(a.StopGrace),
		ArtifactPaths: a.ArtifactPaths,
	}
	if a.Tags != nil {
		d.Tags = make([]tagDoc, len(a.Tags))
		for i, t := range a.Tags {
			d.Tags[i] = tagDoc{Name: t.Name, Priority: t.Priority}
		}
	}
	if a.Ports != nil {
		d.Ports = make([]portSpecDoc, len(a.Ports))
		for i, p := range a.Ports {
			d.Ports[i] = portSpecDoc{Container: p.Container, Protocol: string(p.Protocol)}
		}
	}
	return d
}

const applicationColumns = `org_id, name, source, created_at, updated_at, sealed_registry, doc`

// scanApplication reads a row of applicationColumns. Registry stays nil.
func scanApplication(row pgx.Row) (*arena.Application, error) {
	var (
		a                arena.Application
		created, updated time.Time
		d                applicationDoc
	)
	if err := row.Scan(&a.OrgID, &a.Name, &a.Source, &created, &updated, &a.SealedRegistry, &d); err != nil {
		return nil, err
	}
	a.CreatedAt, a.UpdatedAt = created.UTC(), updated.UTC()
	a.Repository = d.Repository
	if d.Tags != nil {
		a.Tags = make([]arena.Tag, len(d.Tags))
		for i, t := range d.Tags {
			a.Tags[i] = arena.Tag{Name: t.Name, Priority: t.Priority}
		}
	}
	if d.Ports != nil {
		a.Ports = make([]arena.PortSpec, len(d.Ports))
		for i, p := range d.Ports {
			a.Ports[i] = arena.PortSpec{Container: p.Container, Protocol: arena.Protocol(p.Protocol)}
		}
	}
	a.Network = arena.NetworkMode(d.Network)
	a.Resources = arena.Resources{MilliCPU: d.MilliCPU, MemoryMB: d.MemoryMB}
	a.Env = d.Env
	a.Args = d.Args
	a.StopGrace = time.Duration(d.StopGrace)
	a.ArtifactPaths = d.ArtifactPaths
	return &a, nil
}

// CreateApplication inserts a, keeping a.SealedRegistry and never
// a.Registry. It fails with ECONFLICT if a's organisation has an application
// of its name, and with ENOTFOUND if the organisation does not exist.
func (st *Store) CreateApplication(ctx context.Context, a *arena.Application) error {
	_, err := st.exec(ctx, `INSERT INTO applications (`+applicationColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		a.OrgID, a.Name, a.Source, a.CreatedAt.UTC(), a.UpdatedAt.UTC(), a.SealedRegistry, encodeApplication(a))
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "application %s already exists", a.Name)
	case isMissingParent(err):
		return arena.Errorf(arena.ENOTFOUND, "organization %s not found", a.OrgID)
	}
	return writeError(err, "creating an application")
}

// UpdateApplication overwrites every field of the stored application, found
// by a.OrgID and a.Name, but its CreatedAt, which never changes (as a
// session's does not): a caller that rebuilds an application from a request
// cannot lose it. It keeps a.SealedRegistry and never a.Registry. ENOTFOUND
// if there is no such application.
func (st *Store) UpdateApplication(ctx context.Context, a *arena.Application) error {
	tag, err := st.exec(ctx, `UPDATE applications SET source = $1, updated_at = $2, sealed_registry = $3, doc = $4
		WHERE org_id = $5 AND name = $6`, a.Source, a.UpdatedAt.UTC(), a.SealedRegistry, encodeApplication(a), a.OrgID, a.Name)
	if err != nil {
		return writeError(err, "updating an application")
	}
	if tag.RowsAffected() == 0 {
		return arena.Errorf(arena.ENOTFOUND, "application %s not found", a.Name)
	}
	return nil
}

// FindApplication returns an organisation's application; ENOTFOUND if it
// has none of that name.
func (st *Store) FindApplication(ctx context.Context, orgID, name string) (*arena.Application, error) {
	a, err := scanApplication(st.pool.QueryRow(ctx,
		`SELECT `+applicationColumns+` FROM applications WHERE org_id = $1 AND name = $2`, orgID, name))
	if isNoRows(err) || isUnstorable(err) {
		return nil, arena.Errorf(arena.ENOTFOUND, "application %s not found", name)
	}
	if err != nil {
		return nil, arena.Internal(err, "finding an application")
	}
	return a, nil
}

// ListApplications returns an organisation's applications, or every
// organisation's when orgID is empty, ordered by organisation then name:
// the order of the primary key, so that neither list sorts.
func (st *Store) ListApplications(ctx context.Context, orgID string) ([]*arena.Application, error) {
	q, args := `SELECT `+applicationColumns+` FROM applications`, []any(nil)
	if orgID != "" {
		q, args = q+` WHERE org_id = $1`, []any{orgID}
	}
	rows, err := st.pool.Query(ctx, q+` ORDER BY org_id, name`, args...)
	var out []*arena.Application
	if err == nil {
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*arena.Application, error) { return scanApplication(row) })
	}
	if isUnstorable(err) {
		return nil, nil
	}
	if err != nil {
		return nil, arena.Internal(err, "listing applications")
	}
	return out, nil
}

// DeleteApplication removes an organisation's application; ENOTFOUND if it
// has none of that name. Sessions of it keep what they run: they copied it.
func (st *Store) DeleteApplication(ctx context.Context, orgID, name string) error {
	tag, err := st.exec(ctx, `DELETE FROM applications WHERE org_id = $1 AND name = $2`, orgID, name)
	if err != nil && !isUnstorable(err) { // a name no row can hold is unknown
		return arena.Internal(err, "deleting an application")
	}
	if err != nil || tag.RowsAffected() == 0 {
		return arena.Errorf(arena.ENOTFOUND, "application %s not found", name)
	}
	return nil
}
