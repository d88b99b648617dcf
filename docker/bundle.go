package docker

import (
	"debug/elf"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/arena-hq/arena"
)

// maxBundledLibraries bounds the walk of a binary's shared libraries: a game
// server image is not a distribution.
const maxBundledLibraries = 64

// runtimeFiles returns the host paths that the ELF executable at path needs
// beside itself to run in an empty root filesystem: its program interpreter
// (the dynamic loader) and every shared library it needs, transitively, in
// the order found. A static executable needs none.
//
// Libraries are looked up as the loader would on this host: the binary's
// RUNPATH and RPATH, the directories of /etc/ld.so.conf, then the default
// ones. A library that cannot be found is an error here, rather than a
// container that exits at once with "no such file".
func runtimeFiles(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, arena.Errorf(arena.EINVALID, "%s is not an ELF executable: %v", path, err)
	}
	defer f.Close()
	interp, err := interpreter(f)
	if err != nil {
		return nil, arena.Errorf(arena.EINVALID, "%s: reading its program interpreter: %v", path, err)
	}
	if interp == "" {
		return nil, nil
	}
	dirs := librarySearchPath(f, f.Class)
	files := []string{interp}
	seen := map[string]bool{filepath.Base(interp): true}
	queue := []*elf.File{f}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		needed, err := cur.ImportedLibraries()
		if err != nil {
			return nil, arena.Errorf(arena.EINVALID, "%s: reading its shared libraries: %v", path, err)
		}
		for _, lib := range needed {
			if seen[lib] {
				continue
			}
			seen[lib] = true
			found := findLibrary(lib, dirs, f.Class, f.Machine)
			if found == "" {
				return nil, arena.Errorf(arena.EINVALID, "%s needs %s, which is not in %s", path, lib, strings.Join(dirs, ":"))
			}
			if len(files) > maxBundledLibraries {
				return nil, arena.Errorf(arena.EINVALID, "%s needs more than %d shared libraries", path, maxBundledLibraries)
			}
			files = append(files, found)
			lf, err := elf.Open(found)
			if err != nil {
				return nil, arena.Errorf(arena.EINVALID, "%s: opening %s: %v", path, found, err)
			}
			defer lf.Close()
			queue = append(queue, lf)
		}
	}
	return files, nil
}

// interpreter is the PT_INTERP path of f, or "" for a static executable.
func interpreter(f *elf.File) (string, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\x00"), nil
	}
	return "", nil
}

// librarySearchPath is where the loader looks for f's libraries.
func librarySearchPath(f *elf.File, class elf.Class) []string {
	var dirs []string
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		vals, _ := f.DynString(tag)
		for _, v := range vals {
			dirs = append(dirs, filepath.SplitList(v)...)
		}
	}
	dirs = append(dirs, ldSoConf("/etc/ld.so.conf", 0)...)
	if class == elf.ELFCLASS64 {
		dirs = append(dirs, "/lib64", "/usr/lib64")
	}
	dirs = append(dirs, "/lib", "/usr/lib")
	var out []string
	for _, d := range dirs {
		// $ORIGIN and friends need the loader's own expansion: skipped.
		if d != "" && filepath.IsAbs(d) && !strings.Contains(d, "$") && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// ldSoConf reads the directories of a ld.so.conf file and its includes.
func ldSoConf(path string, depth int) []string {
	b, err := os.ReadFile(path)
	if err != nil || depth > 4 {
		return nil
	}
	var dirs []string
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		line = strings.TrimSpace(line)
		if pattern, ok := strings.CutPrefix(line, "include"); ok {
			pattern = strings.TrimSpace(pattern)
			if !filepath.IsAbs(pattern) {
				pattern = filepath.Join(filepath.Dir(path), pattern)
			}
			matches, _ := filepath.Glob(pattern)
			slices.Sort(matches)
			for _, m := range matches {
				dirs = append(dirs, ldSoConf(m, depth+1)...)
			}
			continue
		}
		if line != "" {
			dirs = append(dirs, line)
		}
	}
	return dirs
}

// findLibrary returns the first file named lib in dirs that is an ELF
// shared object of the executable's class and machine, or "".
func findLibrary(lib string, dirs []string, class elf.Class, machine elf.Machine) string {
	if strings.Contains(lib, "/") {
		if fileMatches(lib, class, machine) {
			return lib
		}
		return ""
	}
	for _, d := range dirs {
		p := filepath.Join(d, lib)
		if fileMatches(p, class, machine) {
			return p
		}
	}
	return ""
}

func fileMatches(path string, class elf.Class, machine elf.Machine) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Class == class && f.Machine == machine
}

// rootfsFile is a file of an image's root filesystem, read from the host.
type rootfsFile struct {
	path string // in the image, absolute
	mode int64
	data []byte
}

// readRootfs reads the binary at binaryPath as /<name>, and what it needs
// to run, at the same paths as on this host, following symbolic links.
func readRootfs(binaryPath string) ([]rootfsFile, error) {
	bin, err := os.ReadFile(binaryPath)
	if err != nil {
		return nil, arena.Errorf(arena.EINVALID, "reading the binary: %v", err)
	}
	libs, err := runtimeFiles(binaryPath)
	if err != nil {
		return nil, err
	}
	files := []rootfsFile{{path: "/" + filepath.Base(binaryPath), mode: 0o755, data: bin}}
	for _, lib := range libs {
		data, err := os.ReadFile(lib)
		if err != nil {
			return nil, arena.Errorf(arena.EINVALID, "reading %s: %v", lib, err)
		}
		files = append(files, rootfsFile{path: lib, mode: 0o755, data: data})
	}
	return files, nil
}
