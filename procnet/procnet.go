// Package procnet reads which local ports the sockets of a Linux network
// namespace hold, from the kernel's socket tables under /proc/net.
//
// A port is held, for a bind to it, by any socket bound to it: a listener,
// an outgoing connection (which the kernel gives a port of its ephemeral
// range, net.ipv4.ip_local_port_range), a connection accepted on it, and,
// for a minute, one in TIME_WAIT. The kernel refuses a bind next to any of
// them unless both sockets set SO_REUSEADDR, and the tables do not show who
// did; so every TCP socket with a local port counts, whatever its state, and
// so does every UDP socket. Ports are counted whatever the address they are
// bound on, IPv4 or IPv6: a port taken on one address blocks a bind to all
// of them, which is how published container ports are bound by default.
package procnet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Dir is where the tables of the reading process's network namespace are.
// An agent on the host reads the host's; one in a container sees the host's
// only with the host's network (docker run --network host).
const Dir = "/proc/net"

// Tables are the socket tables HeldPorts reads. A missing one (tcp6 and
// udp6 on a kernel without IPv6) holds nothing.
var Tables = []string{"tcp", "tcp6", "udp", "udp6"}

// HeldPorts returns, ascending and once each, the local ports from lo to hi
// (inclusive) that a socket in the tables under dir holds.
func HeldPorts(dir string, lo, hi int) ([]int, error) {
	if lo < 1 || hi > 65535 || lo > hi {
		return nil, nil
	}
	held := make([]uint64, (hi-lo+64)/64)
	for _, name := range Tables {
		f, err := os.Open(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		err = scan(f, func(port int, _ string) {
			if port >= lo && port <= hi {
				i := port - lo
				held[i/64] |= 1 << (i % 64)
			}
		})
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
		}
	}
	var out []int
	for w, word := range held {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			out = append(out, lo+w*64+b)
			word &^= 1 << b
		}
	}
	return out, nil
}

// scan calls found with the local port and the state (two hex digits) of
// every socket of one table. The header line and sockets not bound to a
// port (port 0) are skipped; a line that is not a socket is an error, since
// it means the format changed and nothing the table says can be trusted.
func scan(r io.Reader, found func(port int, state string)) error {
	sc := bufio.NewScanner(r)
	header := true
	for sc.Scan() {
		if header {
			header = false
			continue
		}
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		// "  12: 0100007F:1F90 00000000:0000 0A ...": slot, local address.
		fields := strings.Fields(line)
		if len(fields) < 4 || !strings.HasSuffix(fields[0], ":") {
			return fmt.Errorf("unexpected line %q", line)
		}
		_, hexPort, ok := strings.Cut(fields[1], ":")
		if !ok {
			return fmt.Errorf("unexpected local address %q", fields[1])
		}
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			return fmt.Errorf("unexpected local port %q", hexPort)
		}
		if port != 0 {
			found(int(port), fields[3])
		}
	}
	return sc.Err()
}

// Sockets are the ports a network namespace serves on: where a game server
// is ready for players.
type Sockets struct {
	// TCP holds the ports of listening TCP sockets, UDP those of bound UDP
	// sockets; each ascending, once each, IPv4 and IPv6 alike.
	TCP, UDP []int
}

// tcpListen is the state of a listening TCP socket in the tables.
const tcpListen = "0A"

// Listening returns the ports the sockets in the tables under dir serve
// on: TCP sockets in LISTEN, and UDP sockets bound to a port, which is all
// a UDP server does to be ready. A connected UDP socket (a client's) counts
// too: the tables do not tell them apart, and a game server's port is not
// one a client of the same namespace picks.
func Listening(dir string) (Sockets, error) {
	var out Sockets
	for _, name := range Tables {
		f, err := os.Open(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Sockets{}, err
		}
		udp := strings.HasPrefix(name, "udp")
		err = scan(f, func(port int, state string) {
			switch {
			case udp:
				out.UDP = append(out.UDP, port)
			case state == tcpListen:
				out.TCP = append(out.TCP, port)
			}
		})
		f.Close()
		if err != nil {
			return Sockets{}, fmt.Errorf("reading %s: %w", f.Name(), err)
		}
	}
	for _, ports := range []*[]int{&out.TCP, &out.UDP} {
		slices.Sort(*ports)
		*ports = slices.Compact(*ports)
	}
	return out, nil
}
