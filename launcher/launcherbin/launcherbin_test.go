package launcherbin

import (
	"bytes"
	"debug/elf"
	"strings"
	"testing"

	"github.com/arena-hq/arena/launcher/launcherbin/internal/sourcehash"
)

func TestSourcesUnchanged(t *testing.T) {
	sum, err := sourcehash.Sum("..")
	if err != nil {
		t.Fatal(err)
	}
	if sum != strings.TrimSpace(sourceHash) {
		t.Fatal("launcher sources changed; run go generate ./launcher/...")
	}
}

func TestBinaryFor(t *testing.T) {
	for _, tc := range []struct {
		arch    string
		machine elf.Machine
	}{
		{"amd64", elf.EM_X86_64},
		{"arm64", elf.EM_AARCH64},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			b, err := BinaryFor(tc.arch)
			if err != nil {
				t.Fatal(err)
			}
			f, err := elf.NewFile(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if f.Machine != tc.machine || f.Type != elf.ET_EXEC {
				t.Errorf("machine %v, type %v; want %v, %v", f.Machine, f.Type, tc.machine, elf.ET_EXEC)
			}
			// A container image may have no dynamic loader, or another
			// libc than the one the launcher would have been linked with.
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("program header %v: the launcher is not static", p.Type)
				}
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		_, err := BinaryFor("riscv64")
		if err == nil || !strings.Contains(err.Error(), "linux/riscv64") {
			t.Fatalf("got %v, want an error naming linux/riscv64", err)
		}
	})
}
