package e2e

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Ports handed to the stacks these tests start are drawn below Linux's
// ephemeral range (32768 and up) and never twice in one test process.
// A ":0" probe that is closed again is no reservation: the kernel hands
// the same port to the next ":0" listener — ours (one CI run gave dev's
// control and console the same port) or a redis-server another package's
// test starts — before dev binds it. Ports below the range are only ever
// bound by number, and only by these helpers.
const (
	portRangeLow  = 20000
	portRangeSize = 12000
)

var (
	portsMu     sync.Mutex
	portsHanded = map[int]bool{}
)

// freeRun returns the first of n consecutive free ports: dev gives the
// scheduler's metrics the port it is told and each executor the next ones.
func freeRun(t *testing.T, n int) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 500 {
		base := portRangeLow + rand.N(portRangeSize-n)
		ok := true
		for i := range n {
			if portsHanded[base+i] || !bindable(base+i) {
				ok = false
				break
			}
		}
		if ok {
			for i := range n {
				portsHanded[base+i] = true
			}
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports in %d–%d", n, portRangeLow, portRangeLow+portRangeSize)
	return 0
}

func bindable(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// freeAddr is a free loopback address no other caller in this process gets.
func freeAddr(t *testing.T) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(freeRun(t, 1))
}

// devPorts are one stack's addresses, free when the test starts and
// distinct from each other.
type devPorts struct {
	notion, helpdesk, control, console string
	redisPort, metricsPort             int
	webhookPort                        int
}

func freePorts(t *testing.T) devPorts {
	t.Helper()
	// The console too: its default port may be another stack's on a
	// shared machine, and a scheduler that cannot bind it exits.
	return devPorts{notion: freeAddr(t), helpdesk: freeAddr(t), control: freeAddr(t), console: freeAddr(t),
		redisPort: freeRun(t, 1), metricsPort: freeRun(t, 4), webhookPort: freeRun(t, 3)}
}
