// Package tenant keeps what Arena knows of its tenants: organisations,
// their users and tokens (and the authentication of requests, with its
// cache), their quotas, their applications and the catalog placement reads
// them from, the sealer of the secrets they keep in the store, and their
// webhook endpoints.
package tenant

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/arena-hq/arena"
)

// Service administers organisations, their users, tokens and quotas, and
// authenticates requests by their tokens. It is safe for concurrent use.
type Service struct {
	store  arena.TenantStore
	quotas QuotaBook
	log    *slog.Logger
	now    func() time.Time

	tokens sync.Map // token hash -> cachedToken
	// tokenTTL is how long a token read from the store is trusted.
	tokenTTL time.Duration
	// tokenGen counts revocations, under tokenMu, so that a token read from
	// the store before one is not cached after it.
	tokenMu  sync.Mutex
	tokenGen uint64
	// uniqueTokens serialises the creates of tokens whose name must be unique.
	uniqueTokens sync.Mutex
	// quotaMu serialises changes of quotas, so that placement applies them
	// in the order the store took them.
	quotaMu sync.Mutex
}

// QuotaBook is where placement keeps organisations' quotas and what their
// sessions hold of them; *scheduler.Scheduler implements it.
type QuotaBook interface {
	SetQuota(orgID string, q arena.Quota)
	Usage(orgID string) arena.QuotaUsage
}

// New returns the tenants kept in store, whose quotas placement keeps in
// quotas; log (nil for none) hears of changes, now (nil for time.Now) is
// the clock.
func New(store arena.TenantStore, quotas QuotaBook, log *slog.Logger, now func() time.Time) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, quotas: quotas, log: log, now: now, tokenTTL: tokenCacheTTL}
}

// SetTokenCacheTTL sets how long a token read from the store is trusted
// before it is looked up again (30 s by default): how long a revocation
// through another control plane takes to reach this one. A replica that
// follows, whose tokens are revoked through the leader, wants it short.
func (s *Service) SetTokenCacheTTL(d time.Duration) { s.tokenTTL = d }

// tokenCacheTTL bounds how long a token found in the store is trusted
// without looking again, so that a token revoked through another control
// plane stops working there too. A revocation through this one takes effect
// at once: it evicts the token.
const tokenCacheTTL = 30 * time.Second

type cachedToken struct {
	token *arena.Token
	until time.Time
}

// Bounds of the admin API's token requests.
const (
	maxTokenName   = 128
	maxTokenExpiry = 10 * 365 * 24 * time.Hour
	maxRateLimit   = 100_000
)

// CreateOrganization adds an organisation; ECONFLICT if its id exists.
func (s *Service) CreateOrganization(ctx context.Context, o arena.Organization) (*arena.Organization, error) {
	var v []arena.Violation
	if bad := arena.ValidName("id", o.ID); bad != nil {
		v = append(v, *bad)
	}
	if o.Name == "" {
		o.Name = o.ID
	}
	if len(o.Name) > maxTokenName {
		v = append(v, arena.Violation{Field: "name", Description: "must be at most 128 characters"})
	}
	if o.Environment == "" {
		o.Environment = arena.EnvProduction
	}
	if o.Environment != arena.EnvProduction && o.Environment != arena.EnvSandbox {
		v = append(v, arena.Violation{Field: "environment", Description: "must be sandbox or production"})
	}
	if len(v) > 0 {
		return nil, arena.Invalid(v...)
	}
	o.CreatedAt = s.now()
	if err := s.store.CreateOrganization(ctx, &o); err != nil {
		if arena.ErrorCode(err) == arena.ECONFLICT {
			return nil, arena.Errorf(arena.ECONFLICT, "organisation %q exists", o.ID)
		}
		return nil, err
	}
	s.log.InfoContext(ctx, "organisation created", "org", o.ID, "environment", o.Environment)
	return &o, nil
}

// FindOrganization returns an organisation, or ENOTFOUND.
func (s *Service) FindOrganization(ctx context.Context, id string) (*arena.Organization, error) {
	o, err := s.store.FindOrganization(ctx, id)
	if arena.ErrorCode(err) == arena.ENOTFOUND {
		return nil, arena.Errorf(arena.ENOTFOUND, "organisation %q not found", id)
	}
	return o, err
}

// ListOrganizations returns every organisation, ordered by id.
func (s *Service) ListOrganizations(ctx context.Context) ([]*arena.Organization, error) {
	return s.store.ListOrganizations(ctx)
}

// CreateUser adds a user to an organisation.
func (s *Service) CreateUser(ctx context.Context, u arena.User) (*arena.User, error) {
	var v []arena.Violation
	if len(u.Email) < 3 || len(u.Email) > 254 || !containsAt(u.Email) {
		v = append(v, arena.Violation{Field: "email", Description: "must be an email address of at most 254 characters"})
	}
	if len(u.Name) > maxTokenName {
		v = append(v, arena.Violation{Field: "name", Description: "must be at most 128 characters"})
	}
	if len(v) > 0 {
		return nil, arena.Invalid(v...)
	}
	u.ID, u.CreatedAt = uuid.NewString(), s.now()
	if err := s.store.CreateUser(ctx, &u); err != nil {
		if arena.ErrorCode(err) == arena.ECONFLICT {
			return nil, arena.Errorf(arena.ECONFLICT, "a user with email %q exists", u.Email)
		}
		return nil, err
	}
	return &u, nil
}

func containsAt(s string) bool {
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '@' {
			return true
		}
	}
	return false
}

// ListUsers returns an organisation's users.
func (s *Service) ListUsers(ctx context.Context, orgID string) ([]*arena.User, error) {
	return s.store.ListUsers(ctx, orgID)
}

// DeleteUser removes a user and revokes every token issued to it, at once.
func (s *Service) DeleteUser(ctx context.Context, orgID, id string) error {
	if err := s.store.DeleteUser(ctx, orgID, id, s.now()); err != nil {
		if arena.ErrorCode(err) == arena.ENOTFOUND {
			return arena.Errorf(arena.ENOTFOUND, "user %q not found", id)
		}
		return err
	}
	s.evictTokens(func(t *arena.Token) bool { return t.OrgID == orgID && t.UserID == id })
	return nil
}

// CreateToken issues a token for an organisation and returns it with its
// secret, which is not kept and cannot be had again. A token can give no
// more than its issuer has, so that no token outlives the limits of the one
// that made it: only scopes the issuer allows (an organisation's admin
// cannot mint an operator); no later expiry than the issuer's; the issuer's
// user, when it has one in that organisation, unless another is named, so
// that removing the user revokes what it made; and a rate limit of its own
// only from an operator, since the limits protect the installation.
func (s *Service) CreateToken(ctx context.Context, issuer *arena.Token, orgID string, req arena.TokenRequest) (*arena.Token, string, error) {
	var v []arena.Violation
	if req.Name == "" || len(req.Name) > maxTokenName {
		v = append(v, arena.Violation{Field: "name", Description: "is required, at most 128 characters"})
	}
	if req.Scopes == nil {
		req.Scopes = arena.SessionScopes
	}
	scopes := []string{}
	for _, sc := range req.Scopes {
		switch {
		case !arena.ValidScope(sc):
			v = append(v, arena.Violation{Field: "scopes", Description: "unknown scope " + sc})
		case !issuer.Allows(sc):
			v = append(v, arena.Violation{Field: "scopes", Description: "the token creating it lacks " + sc})
		case !slices.Contains(scopes, sc):
			scopes = append(scopes, sc)
		}
	}
	if len(scopes) == 0 && len(v) == 0 {
		v = append(v, arena.Violation{Field: "scopes", Description: "must name at least one scope"})
	}
	if req.ExpiresIn < 0 || req.ExpiresIn > maxTokenExpiry {
		v = append(v, arena.Violation{Field: "expiresInSeconds", Description: "must be between 0 (never) and ten years"})
	}
	now := s.now()
	if !issuer.ExpiresAt.IsZero() && req.ExpiresIn > 0 && now.Add(req.ExpiresIn).After(issuer.ExpiresAt) {
		v = append(v, arena.Violation{Field: "expiresInSeconds", Description: "must not outlast the token creating it, which expires at " + issuer.ExpiresAt.Format(time.RFC3339)})
	}
	switch {
	case req.RateLimit < 0 || req.RateLimit > maxRateLimit || req.RateBurst < 0 || req.RateBurst > maxRateLimit:
		v = append(v, arena.Violation{Field: "rateLimit", Description: "rateLimit and rateBurst must be between 0 (the default) and 100000"})
	case (req.RateLimit != 0 || req.RateBurst != 0) && !issuer.Allows(arena.ScopeOperator):
		v = append(v, arena.Violation{Field: "rateLimit", Description: "only an operator can set a token's rate limit"})
	}
	if len(v) > 0 {
		return nil, "", arena.Invalid(v...)
	}
	if req.UserID == "" && issuer.UserID != "" && issuer.OrgID == orgID {
		req.UserID = issuer.UserID
	}
	if req.RateLimit == 0 && req.RateBurst == 0 && !issuer.Allows(arena.ScopeOperator) {
		req.RateLimit, req.RateBurst = issuer.RateLimit, issuer.RateBurst
	}
	if req.UniqueName {
		// One at a time, so that two creates of one name cannot both
		// find it free.
		s.uniqueTokens.Lock()
		defer s.uniqueTokens.Unlock()
		toks, err := s.store.ListTokens(ctx, orgID)
		if err != nil {
			return nil, "", err
		}
		for _, t := range toks {
			if t.Name == req.Name && !t.Revoked() && !t.Expired(now) {
				return nil, "", arena.Errorf(arena.ECONFLICT, "the organisation has a token named %q; revoke it or choose another name", req.Name)
			}
		}
	}
	secret := arena.NewTokenSecret()
	t := &arena.Token{
		ID: uuid.NewString(), OrgID: orgID, UserID: req.UserID, Name: req.Name, Hash: arena.HashToken(secret),
		CreatedAt: now, Scopes: scopes, RateLimit: req.RateLimit, RateBurst: req.RateBurst,
	}
	if req.ExpiresIn > 0 {
		t.ExpiresAt = now.Add(req.ExpiresIn)
	} else if !issuer.ExpiresAt.IsZero() {
		t.ExpiresAt = issuer.ExpiresAt
	}
	if err := s.store.CreateToken(ctx, t); err != nil {
		if arena.ErrorCode(err) == arena.ENOTFOUND && req.UserID != "" {
			return nil, "", arena.Invalid(arena.Violation{Field: "userId", Description: "no such user in the organisation"})
		}
		return nil, "", err
	}
	s.log.InfoContext(ctx, "token created", "org", orgID, "token", t.ID, "scopes", scopes, "by", issuer.ID)
	return t, secret, nil
}

// ListTokens returns an organisation's tokens, without secrets (none are kept).
func (s *Service) ListTokens(ctx context.Context, orgID string) ([]*arena.Token, error) {
	return s.store.ListTokens(ctx, orgID)
}

// RevokeToken revokes a token; requests with it fail from now on.
func (s *Service) RevokeToken(ctx context.Context, orgID, id string) error {
	if err := s.store.RevokeToken(ctx, orgID, id, s.now()); err != nil {
		if arena.ErrorCode(err) == arena.ENOTFOUND {
			return arena.Errorf(arena.ENOTFOUND, "token %q not found", id)
		}
		return err
	}
	s.evictTokens(func(t *arena.Token) bool { return t.OrgID == orgID && t.ID == id })
	s.log.InfoContext(ctx, "token revoked", "org", orgID, "token", id)
	return nil
}

// evictTokens drops cached tokens that match, so that the next request
// with one reads its revocation from the store.
func (s *Service) evictTokens(match func(*arena.Token) bool) {
	// A look-up that read the token before this change must not cache it
	// after: the generation tells it so.
	s.tokenMu.Lock()
	s.tokenGen++
	s.tokenMu.Unlock()
	s.tokens.Range(func(k, v any) bool {
		if match(v.(cachedToken).token) {
			s.tokens.Delete(k)
		}
		return true
	})
}

// EnsureToken makes sure the organisation exists and that a token with
// secret exists in it, with scopes; it returns whether it created the token.
// It is how a first start bootstraps the installation's admin token.
func (s *Service) EnsureToken(ctx context.Context, orgID, name, secret string, scopes []string) (bool, error) {
	if err := s.store.CreateOrganization(ctx, &arena.Organization{ID: orgID, Name: orgID, Environment: arena.EnvProduction, CreatedAt: s.now()}); err != nil && arena.ErrorCode(err) != arena.ECONFLICT {
		return false, err
	}
	hash := arena.HashToken(secret)
	if _, err := s.store.FindTokenByHash(ctx, hash); arena.ErrorCode(err) != arena.ENOTFOUND {
		return false, err
	}
	t := &arena.Token{ID: bootstrapTokenID(name), OrgID: orgID, Name: name, Hash: hash, CreatedAt: s.now(), Scopes: scopes}
	return true, s.store.CreateToken(ctx, t)
}

// bootstrapTokenID returns a public id for a token EnsureToken makes: its
// name and random hex. It must not derive from the secret: the id is shown
// in listings and logs, and a secret given by an operator (--token,
// --dev-token) may be weak enough that part of its unsalted hash lets it
// be guessed offline.
func bootstrapTokenID(name string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return name + "-" + hex.EncodeToString(b)
}

// HasTokens reports whether any organisation has a token, revoked or not:
// a first start has none.
func (s *Service) HasTokens(ctx context.Context) (bool, error) {
	orgs, err := s.store.ListOrganizations(ctx)
	if err != nil {
		return false, err
	}
	for _, o := range orgs {
		toks, err := s.store.ListTokens(ctx, o.ID)
		if err != nil || len(toks) > 0 {
			return len(toks) > 0, err
		}
	}
	return false, nil
}

// LoadQuotas gives placement every organisation's quota from the store,
// as a control plane does before it places.
func (s *Service) LoadQuotas(ctx context.Context) error {
	orgs, err := s.store.ListOrganizations(ctx)
	if err != nil {
		return err
	}
	for _, o := range orgs {
		s.quotas.SetQuota(o.ID, o.Quota)
	}
	return nil
}

// SetQuota replaces an organisation's quota through the admin API and
// returns the organisation. The store takes it first and placement then
// follows it: sessions beyond a lowered bound run on, and new ones are
// refused with EQUOTA until the organisation is back under it. A quota the
// config file sets is ECONFLICT: the file would set it back at the next
// start, so it is changed there.
func (s *Service) SetQuota(ctx context.Context, orgID string, q arena.Quota) (*arena.Organization, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	s.quotaMu.Lock()
	defer s.quotaMu.Unlock()
	o, err := s.FindOrganization(ctx, orgID)
	if err != nil {
		return nil, err
	}
	if o.QuotaSource == arena.SourceConfig {
		return nil, arena.Errorf(arena.ECONFLICT, "the quota of organisation %q is set in the config file; change it there", orgID)
	}
	if err := s.store.SetOrganizationQuota(ctx, orgID, q, ""); err != nil {
		if arena.ErrorCode(err) == arena.ENOTFOUND {
			return nil, arena.Errorf(arena.ENOTFOUND, "organisation %q not found", orgID)
		}
		return nil, err
	}
	s.quotas.SetQuota(orgID, q)
	o.Quota, o.QuotaSource = q, ""
	s.log.InfoContext(ctx, "quota set", "org", orgID, "max_sessions", q.MaxSessions, "max_millicpu", q.MaxMilliCPU)
	return o, nil
}

// SyncQuotas makes the quotas of the config file those in force: each
// organisation it names gets its quota, owned by the file from now on (one
// set through the admin API before is replaced), and is created when
// missing, as for the file's applications. An organisation whose quota the
// file set before but names no more is left without a bound, and the admin
// API may set it again. It runs at every start, before requests are served.
func (s *Service) SyncQuotas(ctx context.Context, quotas map[string]arena.Quota) error {
	for id, q := range quotas {
		if err := q.Validate(); err != nil {
			return arena.Errorf(arena.EINVALID, "the quota of organisation %q: %s", id, violationText(err))
		}
	}
	s.quotaMu.Lock()
	defer s.quotaMu.Unlock()
	for id, q := range quotas {
		o := &arena.Organization{ID: id, Name: id, Environment: arena.EnvProduction, CreatedAt: s.now()}
		if err := s.store.CreateOrganization(ctx, o); err != nil && arena.ErrorCode(err) != arena.ECONFLICT {
			return err
		}
		if err := s.store.SetOrganizationQuota(ctx, id, q, arena.SourceConfig); err != nil {
			return err
		}
		s.quotas.SetQuota(id, q)
	}
	orgs, err := s.store.ListOrganizations(ctx)
	if err != nil {
		return err
	}
	for _, o := range orgs {
		if _, inFile := quotas[o.ID]; inFile || o.QuotaSource != arena.SourceConfig {
			continue
		}
		if err := s.store.SetOrganizationQuota(ctx, o.ID, arena.Quota{}, ""); err != nil {
			return err
		}
		s.quotas.SetQuota(o.ID, arena.Quota{})
		s.log.InfoContext(ctx, "quota of the config file removed", "org", o.ID)
	}
	return nil
}

func violationText(err error) string {
	var parts []string
	for _, v := range arena.ErrorViolations(err) {
		parts = append(parts, v.Field+" "+v.Description)
	}
	return strings.Join(parts, "; ")
}

// QuotaUsage returns what an organisation's active sessions hold of its
// quota right now.
func (s *Service) QuotaUsage(orgID string) arena.QuotaUsage {
	return s.quotas.Usage(orgID)
}

// Authenticate returns the token whose secret is given, or EUNAUTHORIZED.
func (s *Service) Authenticate(ctx context.Context, secret string) (*arena.Token, error) {
	if secret == "" {
		return nil, arena.Errorf(arena.EUNAUTHORIZED, "a bearer token is required")
	}
	hash := arena.HashToken(secret)
	now := s.now()
	var tok *arena.Token
	if v, ok := s.tokens.Load(hash); ok && now.Before(v.(cachedToken).until) {
		tok = v.(cachedToken).token
	} else {
		s.tokenMu.Lock()
		gen := s.tokenGen
		s.tokenMu.Unlock()
		t, err := s.store.FindTokenByHash(ctx, hash)
		if arena.ErrorCode(err) == arena.ENOTFOUND {
			s.tokens.Delete(hash)
			return nil, arena.Errorf(arena.EUNAUTHORIZED, "the bearer token is not valid")
		} else if err != nil {
			return nil, err
		}
		s.tokenMu.Lock()
		if s.tokenGen == gen {
			s.tokens.Store(hash, cachedToken{token: t, until: now.Add(s.tokenTTL)})
		}
		s.tokenMu.Unlock()
		tok = t
	}
	switch {
	case tok.Revoked():
		return nil, arena.Errorf(arena.EUNAUTHORIZED, "the bearer token has been revoked")
	case tok.Expired(now):
		return nil, arena.Errorf(arena.EUNAUTHORIZED, "the bearer token has expired")
	}
	return tok, nil
}
