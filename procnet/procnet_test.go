package procnet_test

import (
	"net"
	"slices"
	"testing"

	"github.com/arena-hq/arena/procnet"
)

func TestHeldPortsOfFixtures(t *testing.T) {
	tests := []struct {
		name   string
		dir    string
		lo, hi int
		want   []int
	}{
		{
			// Listeners, outgoing and accepted connections, TIME_WAIT,
			// bound but unconnected sockets, UDP bound and connected, IPv4
			// and IPv6; the unbound socket (port 0) holds nothing.
			name: "every port", dir: "testdata/host", lo: 1, hi: 65535,
			want: []int{53, 7777, 8080, 32768, 33000, 40000, 45000, 50000, 60299, 60315},
		},
		{
			name: "the default range, bounds included", dir: "testdata/host", lo: 32768, hi: 60299,
			want: []int{32768, 33000, 40000, 45000, 50000, 60299},
		},
		{
			name: "bounds excluded", dir: "testdata/host", lo: 32769, hi: 60298,
			want: []int{33000, 40000, 45000, 50000},
		},
		{name: "one port", dir: "testdata/host", lo: 8080, hi: 8080, want: []int{8080}},
		{name: "nothing held in range", dir: "testdata/host", lo: 20000, hi: 30000},
		{name: "empty range", dir: "testdata/host", lo: 40001, hi: 40000},
		{name: "range past 65535", dir: "testdata/host", lo: 60000, hi: 70000},
		{
			// A kernel without IPv6 has no tcp6 or udp6 table.
			name: "no IPv6 tables", dir: "testdata/v4only", lo: 1, hi: 65535,
			want: []int{53, 8080, 32768, 33000, 40000, 50000, 60315},
		},
		{name: "no tables at all", dir: "testdata/none", lo: 1, hi: 65535},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := procnet.HeldPorts(tt.dir, tt.lo, tt.hi)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("HeldPorts(%d-%d) = %v, want %v", tt.lo, tt.hi, got, tt.want)
			}
		})
	}
}

func TestHeldPortsRefusesAnUnknownFormat(t *testing.T) {
	if got, err := procnet.HeldPorts("testdata/broken", 1, 65535); err == nil {
		t.Fatalf("HeldPorts of a malformed table = %v, want an error", got)
	}
}

// TestHeldPortsOfThisHost reads the real tables: a listener, the outgoing
// connection to it (from a port of the ephemeral range) and a UDP socket
// are reported, and the UDP socket's port no longer once it is closed.
func TestHeldPortsOfThisHost(t *testing.T) {
	l, out := connected(t)
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listener := l.Addr().(*net.TCPAddr).Port
	outgoing := out.LocalAddr().(*net.TCPAddr).Port
	udp := u.LocalAddr().(*net.UDPAddr).Port

	held, err := procnet.HeldPorts(procnet.Dir, 1, 65535)
	if err != nil {
		t.Fatal(err)
	}
	for name, port := range map[string]int{"listener": listener, "outgoing connection": outgoing, "udp socket": udp} {
		if _, found := slices.BinarySearch(held, port); !found {
			t.Errorf("the %s's port %d is not reported held: %v", name, port, held)
		}
	}
	if !slices.IsSorted(held) || len(slices.Compact(slices.Clone(held))) != len(held) {
		t.Errorf("not ascending once each: %v", held)
	}

	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	held, err = procnet.HeldPorts(procnet.Dir, udp, udp)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 0 {
		t.Errorf("the closed udp socket's port is still reported: %v", held)
	}
}

func TestListeningOfFixtures(t *testing.T) {
	tests := []struct {
		name     string
		dir      string
		tcp, udp []int
	}{
		// Of TCP, listeners alone; of UDP, every bound socket.
		{"host", "testdata/host", []int{7777, 8080}, []int{53, 33000, 50000, 60299}},
		{"no IPv6 tables", "testdata/v4only", []int{8080}, []int{53, 33000, 50000}},
		{"no tables at all", "testdata/none", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := procnet.Listening(tt.dir)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.TCP, tt.tcp) || !slices.Equal(got.UDP, tt.udp) {
				t.Fatalf("Listening = tcp %v udp %v, want tcp %v udp %v", got.TCP, got.UDP, tt.tcp, tt.udp)
			}
		})
	}
	if _, err := procnet.Listening("testdata/broken"); err == nil {
		t.Fatal("Listening of a malformed table: no error")
	}
}

// TestListeningOfThisHost reads the real tables: a listener and a bound
// UDP socket are ready, an outgoing connection is not a listener.
func TestListeningOfThisHost(t *testing.T) {
	l, out := connected(t)
	u, err := net.ListenPacket("udp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	defer u.Close()
	got, err := procnet.Listening(procnet.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := slices.BinarySearch(got.TCP, l.Addr().(*net.TCPAddr).Port); !ok {
		t.Errorf("the listener is not listed: %v", got.TCP)
	}
	if _, ok := slices.BinarySearch(got.TCP, out.LocalAddr().(*net.TCPAddr).Port); ok {
		t.Errorf("the outgoing connection is listed as a listener: %v", got.TCP)
	}
	if _, ok := slices.BinarySearch(got.UDP, u.LocalAddr().(*net.UDPAddr).Port); !ok {
		t.Errorf("the IPv6 UDP socket is not listed: %v", got.UDP)
	}
}

// connected returns a TCP listener on loopback and a connection to it,
// closed when the test ends.
func connected(tb testing.TB) (net.Listener, net.Conn) {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	out, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { out.Close() })
	return l, out
}
