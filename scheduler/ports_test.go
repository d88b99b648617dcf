package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// boolPorts is the allocator as it was before the bitmap, one bool a port,
// with a second for the ports held outside: the bitmap must hand out exactly
// the same ports.
type boolPorts struct {
	min     int
	used    []bool
	outside []bool
	free    int
	cursor  int
}

func (p *boolPorts) recount() {
	p.free = 0
	for i := range p.used {
		if !p.used[i] && !p.outside[i] {
			p.free++
		}
	}
}

func (p *boolPorts) setOutside(ports []int) {
	clear(p.outside)
	for _, port := range ports {
		if i := port - p.min; i >= 0 && i < len(p.used) {
			p.outside[i] = true
		}
	}
	p.recount()
}

func (p *boolPorts) allocate(n int) ([]int, bool) {
	if n > p.free {
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	ports := make([]int, 0, n)
	for i := 0; len(ports) < n; i++ {
		idx := (p.cursor + i) % len(p.used)
		if !p.used[idx] && !p.outside[idx] {
			p.used[idx] = true
			ports = append(ports, p.min+idx)
		}
	}
	p.free -= n
	p.cursor = (ports[n-1] - p.min + 1) % len(p.used)
	return ports, true
}

func (p *boolPorts) set(port int, held bool) bool {
	i := port - p.min
	if i < 0 || i >= len(p.used) || p.used[i] == held {
		return false
	}
	p.used[i] = held
	p.recount()
	return true
}

func TestPortAllocatorMatchesOneBoolAPort(t *testing.T) {
	for _, size := range []int{1, 2, 63, 64, 65, 128, 130, 1000, 27532} {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(size), 1))
			const lo = 32768
			got := newPortAllocator(lo, lo+size-1)
			want := &boolPorts{min: lo, used: make([]bool, size), outside: make([]bool, size), free: size}
			var held []int
			for step := range 3000 {
				switch op := rng.IntN(11); {
				case op == 10:
					// A new report of what is held outside: a few ports,
					// in and out of range, some of them sessions' too,
					// unordered and repeated; now and then none.
					var out []int
					for range rng.IntN(6) {
						out = append(out, lo-2+rng.IntN(size+4))
					}
					if len(held) > 0 && rng.IntN(2) == 0 {
						out = append(out, held[rng.IntN(len(held))])
					}
					if len(out) > 0 && rng.IntN(4) == 0 {
						out = append(out, out[0])
					}
					got.setOutside(out)
					want.setOutside(out)
				case op < 5:
					n := rng.IntN(4)
					if rng.IntN(20) == 0 {
						n = rng.IntN(size + 2)
					}
					g, gok := got.allocate(n)
					w, wok := want.allocate(n)
					if gok != wok || !slices.Equal(g, w) {
						t.Fatalf("step %d: allocate(%d) = %v %v, want %v %v", step, n, g, gok, w, wok)
					}
					held = append(held, g...)
				case op < 8 && len(held) > 0:
					k := rng.IntN(len(held))
					port := held[k]
					held = slices.Delete(held, k, k+1)
					got.release([]int{port, port, lo - 1, lo + size})
					want.set(port, false)
				default:
					// Ports in and out of range, held or not.
					port := lo - 2 + rng.IntN(size+4)
					refused := got.hold([]int{port})
					if ok := want.set(port, true); ok != (len(refused) == 0) {
						t.Fatalf("step %d: hold(%d) refused %v, want refused %v", step, port, refused, !ok)
					}
					if len(refused) == 0 {
						held = append(held, port)
					}
				}
				if got.cursor != want.cursor || got.free != want.free {
					t.Fatalf("step %d: cursor %d free %d, want %d and %d", step, got.cursor, got.free, want.cursor, want.free)
				}
				if err := checkPorts(&got, held); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
			}
		})
	}
}

func TestPortAllocatorEmptyRange(t *testing.T) {
	p := newPortAllocator(40000, 39999)
	if ports, ok := p.allocate(0); !ok || ports != nil {
		t.Fatalf("allocate(0) = %v, %v", ports, ok)
	}
	if _, ok := p.allocate(1); ok {
		t.Fatal("allocated from an empty range")
	}
	if refused := p.hold([]int{40000}); len(refused) != 1 {
		t.Fatal("held a port of an empty range")
	}
}

// TestPortAllocatorSkipsFullWords fills all but the last port of a large
// range and checks that the one left is found, wherever the cursor is.
func TestPortAllocatorSkipsFullWords(t *testing.T) {
	p := newPortAllocator(1, 27532)
	all, _ := p.allocate(27532)
	p.release(all[len(all)-1:])
	for _, cursor := range []int{0, 1, 64, 27000, 27531} {
		p.cursor = cursor
		got, ok := p.allocate(1)
		if !ok || got[0] != 27532 {
			t.Fatalf("from cursor %d: %v %v", cursor, got, ok)
		}
		p.release(got)
	}
}

func BenchmarkPortAllocate(b *testing.B) {
	// A busy node: every other port held, so each search crosses held ports.
	p := newPortAllocator(32768, 60299)
	for i := 0; i < p.size; i += 2 {
		p.hold([]int{p.min + i})
	}
	for b.Loop() {
		ports, _ := p.allocate(2)
		p.release(ports)
	}
}
