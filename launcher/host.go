package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Modes of what the container reads. Whatever user the image runs as must
// be able to open the FIFO and execute the launcher, and with user
// namespaces even the container's root is "other" on the host.
const (
	dirMode    = 0o755
	binaryMode = 0o755
	fifoMode   = 0o644
)

// InstallBinary writes the launcher program to path, where PrepareDir links
// it from, creating path's directory when missing. It replaces the file by
// renaming a new one over it, never by writing into it: the file is
// hard-linked into the directories of running containers, and a launcher
// being executed there must not change. A file already holding binary with
// the right mode is left as it is, keeping its links current.
func InstallBinary(path string, binary []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	if same, err := holds(path, binary); err != nil || same {
		return err
	}
	return writeAtomic(path, binary)
}

// PrepareDir makes dir ready for a container in launch mode: it creates dir,
// puts the launcher installed at binary (see InstallBinary) in it as
// BinaryName and makes the FIFO FIFOName. The caller bind-mounts dir at
// MountDir read-only and sets the container's entrypoint to Entrypoint; dir
// must therefore be on a filesystem mounted without noexec.
//
// The launcher is a hard link to binary when both are on one filesystem and
// a copy otherwise. The FIFO is readable by everyone, as a container user of
// any uid must read it, so the claim it carries (environment included) is
// protected by dir's parent: keep the directories under one that only the
// agent's user can search. The bind mount does not need it searchable.
//
// PrepareDir may be called again on a prepared dir, as an agent adopting its
// containers after a restart does; it keeps a FIFO that exists.
func PrepareDir(dir, binary string) error {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	// MkdirAll's mode passes through the umask, which may leave the
	// directory closed to the container's user.
	if err := os.Chmod(dir, dirMode); err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	if err := placeBinary(binary, filepath.Join(dir, BinaryName)); err != nil {
		return err
	}
	return makeFIFO(filepath.Join(dir, FIFOName))
}

// placeBinary puts the file src at dst, as a hard link if it can.
func placeBinary(src, dst string) error {
	si, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	if di, err := os.Lstat(dst); err == nil && os.SameFile(si, di) {
		return nil
	}
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".new")
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("launcher: %w", err)
	}
	if err := os.Link(src, tmp); err == nil {
		if err := os.Rename(tmp, dst); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("launcher: %w", err)
		}
		return nil
	}
	// Another filesystem, or one without hard links: copy.
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	if same, err := holds(dst, data); err != nil || same {
		return err
	}
	return writeAtomic(dst, data)
}

// holds reports whether path is a regular file with binaryMode holding
// exactly data. A missing file holds nothing; it is no error.
func holds(path string, data []byte) (bool, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("launcher: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != binaryMode || fi.Size() != int64(len(data)) {
		return false, nil
	}
	have, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("launcher: %w", err)
	}
	return bytes.Equal(have, data), nil
}

// writeAtomic writes data to a new file with binaryMode and renames it to
// path, so that path holds the old content or the new, never part of it.
func writeAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
			err = fmt.Errorf("launcher: %w", err)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(binaryMode); err != nil {
		return err
	}
	// Without the sync a crash soon after the rename could leave path
	// renamed but empty.
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// sendPoll is how often Send tries again to open a FIFO no launcher reads
// yet. A claimed session waits on it, and each try is one failing open.
const sendPoll = time.Millisecond

// Send writes c into the FIFO of dir, a directory PrepareDir made, for the
// launcher waiting on it. It waits for the launcher to open the FIFO (the
// container may still be starting) until ctx ends, and ctx also bounds the
// write. An error before the launcher has the FIFO open leaves it waiting
// for another Send; once it has, a failed Send leaves the launcher with a
// claim it refuses, and the container exits.
func Send(ctx context.Context, dir string, c Claim) error {
	data, err := c.encode()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, FIFOName)
	f, err := openWriter(ctx, path)
	if err != nil {
		return err
	}
	defer f.Close()
	if d, ok := ctx.Deadline(); ok {
		if err := f.SetWriteDeadline(d); err != nil {
			return fmt.Errorf("launcher: %w", err)
		}
	}
	// A deadline in the past wakes a write blocked on a full pipe, which
	// is how a cancelled ctx stops one.
	defer context.AfterFunc(ctx, func() { _ = f.SetWriteDeadline(time.Unix(1, 0)) })()
	if _, err := f.Write(data); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("launcher: write claim to %s: %w", path, context.Cause(ctx))
		}
		return fmt.Errorf("launcher: write claim: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	return nil
}
