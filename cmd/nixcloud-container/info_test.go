package main

import (
	"strings"
	"testing"
	"time"

	"github.com/nixcloud/nixcloud-container/containers"
	"github.com/nixcloud/nixcloud-container/internal/golden"
	"github.com/nixcloud/nixcloud-container/lxc"
)

func TestPrintInfo(t *testing.T) {
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	running := containers.Info{
		Name: "web", State: "RUNNING", Addresses: []string{"10.101.0.2"}, Generation: 3, Autostart: true,
		Details: containers.Details{
			InitPID: 4242, Started: &started, UptimeSeconds: 3725, RunningGeneration: 2,
			Interfaces: []containers.InterfaceInfo{
				{Name: "hostonly", Bridge: "brNC-hostonly", HostVeth: "nc0h", MAC: "02:4e:43:00:00:00", IPv4: "10.101.0.2/16"},
				{Name: "internet", Bridge: "brNC-internet", HostVeth: "nc0i", MAC: "02:4e:43:00:00:01", IPv4: "10.202.0.10/16", IPv6: "fd42::a/64"},
			},
			Forwards:   []containers.ForwardInfo{{Protocol: "tcp", HostPort: 8080, ContainerPort: 80}},
			BindMounts: []containers.BindMountInfo{{Target: "/srv", HostPath: "/data/web", ReadOnly: false, Shift: true}},
			Limits:     containers.LimitsInfo{Memory: "512M", CPUs: 1.5, Processes: 1000},
			Usage: &containers.UsageInfo{
				Usage:      lxc.Usage{Cgroup: "/lxc.payload.web", MemoryCurrent: 12 << 20, MemoryPeak: 30<<20 + 512<<10, CPUSeconds: 12.345, Processes: 7},
				Interfaces: []containers.InterfaceUsage{{Name: "hostonly", Counters: lxc.Counters{RxBytes: 2048, RxPackets: 20, TxBytes: 100, TxPackets: 1}}},
			},
		},
	}
	stopped := containers.Info{Name: "db", State: "STOPPED", Generation: 1, Details: containers.Details{Interfaces: []containers.InterfaceInfo{}}}
	var b strings.Builder
	for _, i := range []containers.Info{running, stopped} {
		if err := printInfo(&b, i); err != nil {
			t.Fatal(err)
		}
		b.WriteString("--\n")
	}
	golden.Check(t, "info", b.String())
}
