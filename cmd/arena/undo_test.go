package main

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

func TestUndoOnError(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		panics bool
		undone bool
	}{
		{"success keeps", nil, false, false},
		{"error undoes", errors.New("boom"), false, true},
		{"panic undoes and goes on", nil, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			undone := false
			var recovered any
			func() {
				defer func() { recovered = recover() }()
				func() (err error) {
					defer undoOnError(&err, func() { undone = true })
					if tt.panics {
						panic("boom")
					}
					return tt.err
				}()
			}()
			if undone != tt.undone {
				t.Fatalf("undone %v, want %v", undone, tt.undone)
			}
			if (recovered != nil) != tt.panics {
				t.Fatalf("recovered %v", recovered)
			}
		})
	}
}

// TestNoDeferredUseOfNamedResults keeps the module free of the shape that
// made every start-up failure a nil-pointer panic: a deferred closure that
// cleans up through a named result, which `return nil, err` has already set
// to nil. undoOnError binds the value when deferred instead.
func TestNoDeferredUseOfNamedResults(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".gen.go") || strings.HasSuffix(path, ".pb.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		found = append(found, deferredNamedResults(fset, f)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		t.Fatalf("deferred closures use named results that a failing return sets to nil (use undoOnError):\n%s", strings.Join(found, "\n"))
	}
}

func TestDeferredNamedResultsAreFound(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		found int
	}{
		{"closure over a named pointer", `func f() (st *T, err error) { defer func() { if err != nil { st.Close() } }(); return nil, err }`, 1},
		{"bound when deferred", `func f() (st *T, err error) { defer undoOnError(&err, st.Close); return }`, 0},
		{"only the error", `func f() (err error) { defer func() { if err != nil { log(err) } }(); return }`, 0},
		{"unnamed results", `func f() (*T, error) { st := &T{}; defer func() { st.Close() }(); return st, nil }`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "x.go", "package x\n"+tt.src, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := deferredNamedResults(fset, f); len(got) != tt.found {
				t.Fatalf("found %v, want %d", got, tt.found)
			}
		})
	}
}

// deferredNamedResults lists where a deferred function literal refers to a
// named result other than an error.
func deferredNamedResults(fset *token.FileSet, f *ast.File) []string {
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		var typ *ast.FuncType
		var body *ast.BlockStmt
		switch fn := n.(type) {
		case *ast.FuncDecl:
			typ, body = fn.Type, fn.Body
		case *ast.FuncLit:
			typ, body = fn.Type, fn.Body
		default:
			return true
		}
		if typ.Results == nil || body == nil {
			return true
		}
		named := map[string]bool{}
		for _, r := range typ.Results.List {
			if id, ok := r.Type.(*ast.Ident); ok && id.Name == "error" {
				continue
			}
			for _, name := range r.Names {
				named[name.Name] = true
			}
		}
		if len(named) == 0 {
			return true
		}
		ast.Inspect(body, func(n ast.Node) bool {
			d, ok := n.(*ast.DeferStmt)
			if !ok {
				return true
			}
			lit, ok := d.Call.Fun.(*ast.FuncLit)
			if !ok {
				return true
			}
			ast.Inspect(lit.Body, func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok && named[id.Name] && id.Obj != nil && id.Obj.Decl != nil {
					if field, ok := id.Obj.Decl.(*ast.Field); ok && fieldOf(typ.Results, field) {
						out = append(out, fset.Position(id.Pos()).String()+": "+id.Name)
					}
				}
				return true
			})
			return true
		})
		return true
	})
	return out
}

func fieldOf(list *ast.FieldList, f *ast.Field) bool {
	for _, x := range list.List {
		if x == f {
			return true
		}
	}
	return false
}
