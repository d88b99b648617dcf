package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/http/apitest"
)

// TestConcurrentCreatesOverHTTP races 200 POST /session for a node with room
// for 100 through the whole stack: exactly 100 get 201, the others 420, and
// no host port is handed out twice.
func TestConcurrentCreatesOverHTTP(t *testing.T) {
	room := arena.Resources{MilliCPU: 100 * simApp.MilliCPU, MemoryMB: 100 * simApp.MemoryMB}
	st, err := startSimServer(context.Background(), 1, room, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checker := apitest.NewChecker(t)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		status = map[int]int{}
		ports  = map[int]string{}
	)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, body, ok := postEcho(t, checker, &mu, st.URL, st.Token)
			if !ok {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			status[code]++
			if code != 201 {
				return
			}
			var c client.CreatedSession
			if err := json.Unmarshal(body, &c); err != nil {
				t.Error(err)
			}
			for _, p := range c.Ports {
				if other, dup := ports[p.Host]; dup {
					t.Errorf("port %d given to %s and %s", p.Host, other, c.ID)
				}
				ports[p.Host] = c.ID
			}
		}()
	}
	wg.Wait()
	if status[201] != 100 || status[420] != 100 {
		t.Fatalf("statuses %v, want 100 × 201 and 100 × 420", status)
	}
	if len(ports) != 200 {
		t.Fatalf("%d distinct host ports for 100 sessions of 2 ports", len(ports))
	}
}

// TestScaleSim: arena bench --scale-sim prints a simulated day per buffer,
// and a buffer sized for the boot delay refuses no create.
func TestScaleSim(t *testing.T) {
	var out bytes.Buffer
	if err := runBench(context.Background(), []string{"--scale-sim", "--sim-buffer", "0,100"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) == 10 {
			rows[f[0]] = f
		}
	}
	if r := rows["100"]; r == nil || r[2] != "0" {
		t.Fatalf("the day with a buffer of 100: %q; want no 420\n%s", r, out.String())
	}
	if r := rows["0"]; r == nil || r[2] == "0" {
		t.Fatalf("the day without a buffer: %q; want 420s while machines boot\n%s", r, out.String())
	}
}

// TestBenchPrintsTheStoreFloor: a closed-loop run is followed by the
// store's own floor at the same concurrency, and Arena's ratio to it; a
// reads run reads the sessions back.
func TestBenchPrintsTheStoreFloor(t *testing.T) {
	var out bytes.Buffer
	if err := runBench(context.Background(), []string{"--duration", "300ms", "--concurrency", "2", "--rate", "", "--reads", "2"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var floor, reads []string
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == "2" {
			floor = f
		}
		if len(f) > 5 && f[0] == "reads," {
			reads = f
		}
	}
	if reads == nil || reads[3] == "0" || reads[4] != "0" {
		t.Errorf("no reads run, or one that failed: %q\n%s", reads, out.String())
	}
	if !strings.Contains(out.String(), "the store's floor: SQLite") || floor == nil {
		t.Fatalf("no floor at 2 clients:\n%s", out.String())
	}
	tx, err1 := strconv.ParseFloat(floor[1], 64)
	creates, err2 := strconv.ParseFloat(floor[2], 64)
	ratio, err3 := strconv.ParseFloat(floor[3], 64)
	if err1 != nil || err2 != nil || err3 != nil || tx <= 0 || creates <= 0 || math.Abs(ratio-creates/tx) > 0.01 {
		t.Fatalf("floor row %q: want transactions and creates a second, and their ratio", floor)
	}
}
