// Package gameserver is a tiny game server that Arena's tests and demos run
// as a session's container: it echoes UDP datagrams and TCP lines and can be
// told, over TCP or by flags, to exit, crash or ignore SIGTERM, so that every
// part of a session's lifecycle can be provoked from outside the container.
//
// Over TCP each line is echoed back, except for these commands:
//
//	EXIT <code>    the process exits with code at once
//	ENV <NAME>     answers the value of the environment variable NAME
//	ARGS           answers the process's arguments joined by spaces
//	ID             answers the process's user and group: "uid=1000 gid=1000"
//	WRITE <path>   writes a small file at path: answers "ok" or "error: ..."
//	MOUNT <path>   answers the type and options of the filesystem mounted
//	               at path, as /proc/self/mounts has them, or "error: ..."
//
// ID, WRITE and MOUNT let a test see from outside whom a container runs as
// and what it may write.
//
// It logs a line per connection, command and datagram to stdout, so that a
// container's logs show what reached it.
package gameserver

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults of the command-line flags.
const (
	DefaultPort     = 7777
	DefaultTermFile = "/arena-terminated"
)

// envPortPrefix matches arena.EnvPortPrefix; it is repeated here so that the
// game server stays a dependency-free program of its own.
const envPortPrefix = "GAMEYE_PORT_"

// envSessionID matches arena.EnvSessionID.
const envSessionID = "GAMEYE_SESSION_ID"

// Config is what the command-line flags set.
type Config struct {
	// Host is the address to bind; empty binds all of them.
	Host string
	// Port is the container port. GAMEYE_PORT_TCP_<Port> and
	// GAMEYE_PORT_UDP_<Port> override it per protocol, because under host
	// networking the server must bind the host port Arena reserved.
	Port int
	// TermFile is written on SIGTERM so that a test can tell a graceful stop
	// from a kill; empty writes nothing.
	TermFile string
	// IgnoreTerm makes the process ignore SIGTERM, so that only a kill after
	// the stop grace period ends it.
	IgnoreTerm bool
	// ExitAfter makes the server exit by itself with ExitCode after this
	// long; negative means never.
	ExitAfter time.Duration
	ExitCode  int
	// StartDelay makes the server wait this long before it handles signals
	// or listens, like a server that loads a map first: a stop in that
	// window shows whether SIGTERM still reaches it.
	StartDelay time.Duration
}

// ParseArgs parses command-line arguments (without the program name).
func ParseArgs(args []string, output io.Writer) (Config, error) {
	cfg := Config{Port: DefaultPort, TermFile: DefaultTermFile, ExitAfter: -1}
	fs := flag.NewFlagSet("arena-echo", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.Host, "host", cfg.Host, "address to bind (default all)")
	fs.IntVar(&cfg.Port, "port", cfg.Port, "container port to listen on, TCP and UDP")
	fs.StringVar(&cfg.TermFile, "term-file", cfg.TermFile, "file written on SIGTERM (empty: none)")
	fs.BoolVar(&cfg.IgnoreTerm, "ignore-term", false, "ignore SIGTERM")
	fs.Func("exit-after", "exit by itself after this duration (default never)", func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		if d < 0 {
			return errors.New("must not be negative")
		}
		cfg.ExitAfter = d
		return nil
	})
	fs.IntVar(&cfg.ExitCode, "exit-code", 0, "exit code of --exit-after")
	fs.DurationVar(&cfg.StartDelay, "start-delay", 0, "wait this long before handling signals and listening")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return Config{}, fmt.Errorf("invalid --port %d", cfg.Port)
	}
	return cfg, nil
}

// Main runs the game server as a program: args are its command-line
// arguments without the program name, env looks up environment variables.
// It returns the process's exit code. SIGTERM (unless ignored) and SIGINT
// stop it gracefully.
func Main(args []string, env func(string) string, stdout io.Writer) int {
	cfg, err := ParseArgs(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stdout, "arena-echo:", err)
		return 2
	}

	time.Sleep(cfg.StartDelay) // the simulated slow start, not synchronisation
	sigs := []os.Signal{os.Interrupt}
	if cfg.IgnoreTerm {
		// Ignoring rather than not handling it matters: as PID 1 of a
		// container an unhandled SIGTERM is dropped anyway, elsewhere it kills.
		signal.Ignore(syscall.SIGTERM)
	} else {
		sigs = append(sigs, syscall.SIGTERM)
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	defer stop()

	srv, err := Listen(cfg, args, env, stdout)
	if err != nil {
		fmt.Fprintln(stdout, "arena-echo:", err)
		return 1
	}
	return srv.Serve(ctx)
}

// Server is a listening game server.
type Server struct {
	cfg  Config
	args []string
	env  func(string) string
	out  *syncWriter
	tcp  net.Listener
	udp  net.PacketConn

	// exit receives the code of the first EXIT command.
	exit chan int

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Listen binds the TCP and UDP ports of cfg. args is what the ARGS command
// answers.
func Listen(cfg Config, args []string, env func(string) string, stdout io.Writer) (*Server, error) {
	tcpPort, err := boundPort(env, "TCP", cfg.Port)
	if err != nil {
		return nil, err
	}
	udpPort, err := boundPort(env, "UDP", cfg.Port)
	if err != nil {
		return nil, err
	}
	tcp, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(tcpPort)))
	if err != nil {
		return nil, err
	}
	udp, err := net.ListenPacket("udp", net.JoinHostPort(cfg.Host, strconv.Itoa(udpPort)))
	if err != nil {
		tcp.Close()
		return nil, err
	}
	return &Server{
		cfg:   cfg,
		args:  args,
		env:   env,
		out:   &syncWriter{w: stdout},
		tcp:   tcp,
		udp:   udp,
		exit:  make(chan int, 1),
		conns: make(map[net.Conn]struct{}),
	}, nil
}

// boundPort returns the port to bind for proto: the one in
// GAMEYE_PORT_<proto>_<port> when it is set, port otherwise.
func boundPort(env func(string) string, proto string, port int) (int, error) {
	name := envPortPrefix + proto + "_" + strconv.Itoa(port)
	v := env(name)
	if v == "" {
		return port, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("invalid %s=%q", name, v)
	}
	return p, nil
}

// TCPAddr returns the address the TCP listener is bound to.
func (s *Server) TCPAddr() net.Addr { return s.tcp.Addr() }

// UDPAddr returns the address the UDP socket is bound to.
func (s *Server) UDPAddr() net.Addr { return s.udp.LocalAddr() }

// Serve answers TCP and UDP until ctx ends (a termination request: the term
// file is written and 0 returned), an EXIT command arrives or ExitAfter
// passes, and returns the exit code. It closes the server before returning.
func (s *Server) Serve(ctx context.Context) int {
	s.out.printf("echo server listening tcp=%s udp=%s session=%s", s.tcp.Addr(), s.udp.LocalAddr(), s.env(envSessionID))
	s.wg.Add(2)
	go s.serveTCP()
	go s.serveUDP()
	defer s.close()

	var after <-chan time.Time
	if s.cfg.ExitAfter >= 0 {
		t := time.NewTimer(s.cfg.ExitAfter)
		defer t.Stop()
		after = t.C
	}

	select {
	case code := <-s.exit:
		s.out.printf("exiting with code %d as asked", code)
		return code
	case <-after:
		s.out.printf("exiting with code %d after %s", s.cfg.ExitCode, s.cfg.ExitAfter)
		return s.cfg.ExitCode
	case <-ctx.Done():
		s.out.printf("terminated")
		if s.cfg.TermFile != "" {
			if err := os.WriteFile(s.cfg.TermFile, []byte("terminated\n"), 0o644); err != nil {
				s.out.printf("cannot write term file: %v", err)
				return 1
			}
		}
		return 0
	}
}

// close stops the listeners and open connections and waits for their goroutines.
func (s *Server) close() {
	s.tcp.Close()
	s.udp.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.out.printf("tcp accept: %v", err)
			}
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.handleConn(c)
	}
}

func (s *Server) handleConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	peer := c.RemoteAddr()
	s.out.printf("tcp connection from %s", peer)
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		reply, code, exit := s.command(strings.TrimSuffix(sc.Text(), "\r"))
		if _, err := io.WriteString(c, reply+"\n"); err != nil {
			break
		}
		if exit {
			s.out.printf("tcp %s: EXIT %d", peer, code)
			select {
			case s.exit <- code:
			default:
			}
			return
		}
	}
	s.out.printf("tcp connection from %s closed", peer)
}

// command answers one TCP line; exit reports an EXIT command.
func (s *Server) command(line string) (reply string, code int, exit bool) {
	verb, arg, _ := strings.Cut(line, " ")
	switch verb {
	case "EXIT":
		n, err := strconv.Atoi(strings.TrimSpace(arg))
		if err != nil {
			return "error: EXIT needs a numeric code", 0, false
		}
		return "bye " + strconv.Itoa(n), n, true
	case "ENV":
		return s.env(strings.TrimSpace(arg)), 0, false
	case "ARGS":
		return strings.Join(s.args, " "), 0, false
	case "ID":
		return fmt.Sprintf("uid=%d gid=%d", os.Getuid(), os.Getgid()), 0, false
	case "WRITE":
		if err := os.WriteFile(strings.TrimSpace(arg), []byte("written\n"), 0o644); err != nil {
			return "error: " + err.Error(), 0, false
		}
		return "ok", 0, false
	case "MOUNT":
		return mountOf(strings.TrimSpace(arg)), 0, false
	}
	return line, 0, false
}

// mountOf answers the MOUNT command: the type and options of the topmost
// filesystem mounted at path.
func mountOf(path string) string {
	table, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return "error: " + err.Error()
	}
	found := ""
	for _, line := range strings.Split(string(table), "\n") {
		// device, mount point, type, options, dump, pass; spaces in the
		// mount point are escaped as \040, so that it is one field.
		f := strings.Fields(line)
		if len(f) >= 4 && f[1] == path {
			found = f[2] + " " + f[3] // a later mount hides an earlier one
		}
	}
	if found == "" {
		return "error: no filesystem is mounted at " + path
	}
	return found
}

func (s *Server) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 64*1024)
	for {
		n, peer, err := s.udp.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.out.printf("udp read: %v", err)
			}
			return
		}
		s.out.printf("udp %d bytes from %s", n, peer)
		if _, err := s.udp.WriteTo(buf[:n], peer); err != nil {
			s.out.printf("udp write to %s: %v", peer, err)
		}
	}
}

// syncWriter serialises log lines from the connection goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) printf(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fmt.Fprintf(w.w, format+"\n", args...)
}
