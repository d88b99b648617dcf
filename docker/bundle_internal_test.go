package docker

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
)

// systemDynamicBinary returns a dynamically linked executable of this host.
func systemDynamicBinary(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"env", "ls", "sh"} {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		f, err := elf.Open(path)
		if err != nil {
			continue
		}
		interp, _ := interpreter(f)
		f.Close()
		if interp != "" {
			return path
		}
	}
	tb.Fatal("no dynamically linked executable on this host")
	return ""
}

func TestRuntimeFiles(t *testing.T) {
	bin := systemDynamicBinary(t)
	files, err := runtimeFiles(bin)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("%s needs %v, want at least a loader and a libc", bin, files)
	}
	if !strings.Contains(filepath.Base(files[0]), "ld") {
		t.Errorf("first file %s, want the loader", files[0])
	}
	if !slices.ContainsFunc(files, func(p string) bool { return strings.HasPrefix(filepath.Base(p), "libc.so") }) {
		t.Errorf("%v has no libc", files)
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestRuntimeFilesRefuses(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
	}{
		{"not elf", script},
		{"missing", filepath.Join(dir, "nothing")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := runtimeFiles(tt.path); arena.ErrorCode(err) != arena.EINVALID {
				t.Fatalf("got %v, want invalid", err)
			}
		})
	}
}

func TestLdSoConf(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("ld.so.conf", "# comment\ninclude conf.d/*.conf\n/opt/lib # trailing\n")
	write("conf.d/b.conf", "/b\n")
	write("conf.d/a.conf", "/a\n")
	got := ldSoConf(filepath.Join(dir, "ld.so.conf"), 0)
	if want := []string{"/a", "/b", "/opt/lib"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
