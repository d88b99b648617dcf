package tenant_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/sqlite"
	"github.com/arena-hq/arena/tenant"
)

func testSealer(tb testing.TB) *tenant.Sealer {
	tb.Helper()
	s, err := tenant.NewSealer(bytes.Repeat([]byte{7}, tenant.SealerKeySize))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func testApp(org, name string) *arena.Application {
	return &arena.Application{
		OrgID: org, Name: name, Repository: "registry.example/" + name, Tags: []arena.Tag{{Name: "1", Priority: 1}},
		Resources: arena.Resources{MilliCPU: 100, MemoryMB: 64},
		Registry:  &arena.RegistryAuth{Username: "ci", Password: "pw-of-" + name + "-4b1d"},
	}
}

func TestSealer(t *testing.T) {
	s := testSealer(t)
	sealed := s.Seal([]byte("hunter2"), "org/app")
	if bytes.Contains(sealed, []byte("hunter2")) {
		t.Fatal("the sealed value holds the plaintext")
	}
	if got, err := s.Open(sealed, "org/app"); err != nil || string(got) != "hunter2" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open(sealed, "org/other"); err == nil {
		t.Fatal("a sealed value opened under another record's context")
	}
	other, _ := tenant.NewSealer(bytes.Repeat([]byte{8}, tenant.SealerKeySize))
	if _, err := other.Open(sealed, "org/app"); err == nil {
		t.Fatal("a sealed value opened with another key")
	}
	if _, err := tenant.NewSealer([]byte("short")); arena.ErrorCode(err) != arena.EINVALID {
		t.Fatalf("a short key: %v", err)
	}
}

// TestAppCatalog runs the store-backed catalog on SQLite: passwords are
// sealed at rest, config applications belong to the file, and every change
// tells the nodes.
func TestAppCatalog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "arena.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.CreateOrganization(ctx, &arena.Organization{ID: "acme", Name: "Acme", Environment: arena.EnvProduction, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	cat, err := tenant.NewAppCatalog(ctx, store, testSealer(t))
	if err != nil {
		t.Fatal(err)
	}
	changes := 0
	cat.OnChange(func() { changes++ })

	// The config file's applications, in an organisation it creates.
	fromFile := testApp("filed", "echo")
	if err := cat.SyncConfig(ctx, []*arena.Application{fromFile}); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Update(ctx, testApp("filed", "echo"), false); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("updating a config application: %v", err)
	}
	if err := cat.Delete(ctx, "filed", "echo"); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("deleting a config application: %v", err)
	}

	created, err := cat.Create(ctx, testApp("acme", "duel"))
	if err != nil {
		t.Fatal(err)
	}
	if created.Source != arena.SourceAPI || created.Network != arena.NetworkBridge {
		t.Fatalf("created %+v", created)
	}
	if _, err := cat.Create(ctx, testApp("acme", "duel")); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("a second duel: %v", err)
	}
	if _, err := cat.Create(ctx, testApp("nobody", "duel")); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("an application of an unknown organisation: %v", err)
	}
	bad := testApp("acme", "Bad Name")
	bad.Tags = nil
	if err := func() error { _, err := cat.Create(ctx, bad); return err }(); len(arena.ErrorViolations(err)) < 2 {
		t.Fatalf("an invalid application: %v", err)
	}

	// An update without credentials keeps them; with clear it drops them.
	next := testApp("acme", "duel")
	next.Registry = nil
	next.Tags = []arena.Tag{{Name: "2", Priority: 1}}
	if a, err := cat.Update(ctx, next, false); err != nil || a.Registry == nil || a.Registry.Password != "pw-of-duel-4b1d" {
		t.Fatalf("update keeping the login: %+v %v", a, err)
	}
	images := cat.Images()
	if len(images) != 2 || images[0].Ref != "registry.example/duel:2" || images[0].Auth == nil || images[1].Ref != "registry.example/echo:1" {
		t.Fatalf("images after the update: %+v", images)
	}

	// Reopened from the store, the catalog opens the password again; the
	// database file never holds it.
	again, err := tenant.NewAppCatalog(ctx, store, testSealer(t))
	if err != nil {
		t.Fatal(err)
	}
	if a, err := again.Application("acme", "duel"); err != nil || a.Registry == nil || a.Registry.Password != "pw-of-duel-4b1d" {
		t.Fatalf("reloaded %+v %v", a, err)
	}
	store.Close()
	for _, name := range []string{"arena.db", "arena.db-wal"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("4b1d")) {
			t.Fatalf("%s holds a registry password in the clear", name)
		}
	}
	if changes < 3 {
		t.Fatalf("%d changes told, want one per change", changes)
	}
}

// TestApplicationsPerOrganisation checks the cap on an organisation's
// applications, which bounds what it makes every node pull.
func TestApplicationsPerOrganisation(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "arena.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for _, org := range []string{"acme", "other"} {
		if err := store.CreateOrganization(ctx, &arena.Organization{ID: org, Name: org, Environment: arena.EnvProduction, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	cat, err := tenant.NewAppCatalog(ctx, store, testSealer(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := range arena.MaxApplicationsPerOrg {
		if _, err := cat.Create(ctx, testApp("acme", fmt.Sprintf("game-%d", i))); err != nil {
			t.Fatalf("application %d: %v", i, err)
		}
	}
	if _, err := cat.Create(ctx, testApp("acme", "one-too-many")); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("an application past the cap: %v, want conflict", err)
	}
	if _, err := cat.Create(ctx, testApp("other", "game-0")); err != nil {
		t.Fatalf("another organisation's first application: %v", err)
	}
	if err := cat.Delete(ctx, "acme", "game-0"); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Create(ctx, testApp("acme", "one-too-many")); err != nil {
		t.Fatalf("an application after one was deleted: %v", err)
	}
}
