package agent

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/arena-hq/arena"
)

// DetectCapacity returns this machine's CPUs and memory, less a reserve for
// the operating system, Docker and the agent itself, so that sessions placed
// up to the capacity still get what they were promised.
func DetectCapacity() arena.Resources {
	cpu := int64(runtime.NumCPU()) * 1000
	mem := memTotalMB()
	return arena.Resources{MilliCPU: cpu, MemoryMB: mem - min(mem/10, 1024)}
}

func memTotalMB() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 1024
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				return kb / 1024
			}
		}
	}
	return 1024
}
