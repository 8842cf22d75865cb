package containers

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/nixcloud/nixcloud-container/generations"
	"github.com/nixcloud/nixcloud-container/internal/atomicfile"
	"github.com/nixcloud/nixcloud-container/lxc"
	"github.com/nixcloud/nixcloud-container/records"
)

// Details are what list and info say about a container beyond its list
// line (Info embeds them, so list --json and info --json share them);
// Usage, the live counters, only info fills.
type Details struct {
	// InitPID is the host pid of the container's init (running only).
	InitPID int `json:"init_pid,omitempty"`
	// Started is when init started; UptimeSeconds counts from then.
	Started       *time.Time `json:"started,omitempty"`
	UptimeSeconds int64      `json:"uptime_seconds,omitempty"`
	// RunningGeneration is the generation the running container booted
	// or was switched to in place. It differs from Generation (the
	// current one) when the current one has not been activated: its
	// switch or restart failed and the container stayed on the one that
	// ran. 0: not running, or not known (started by something else than
	// this tool).
	RunningGeneration int             `json:"running_generation,omitempty"`
	Interfaces        []InterfaceInfo `json:"interfaces"`
	Forwards          []ForwardInfo   `json:"forwards"`
	BindMounts        []BindMountInfo `json:"bind_mounts"`
	// Limits are the limits in force: the generation's own, else
	// host.toml's defaults.
	Limits LimitsInfo `json:"limits"`
	// Store is what of /nix/store the container sees: "closure" (its
	// generation's closure) or "all".
	Store string     `json:"store,omitempty"`
	Usage *UsageInfo `json:"usage,omitempty"`
}

// InterfaceInfo is one network interface: its name inside the guest, the
// host bridge and veth, its MAC and addresses (with prefix length).
type InterfaceInfo struct {
	Name     string `json:"name"`
	Bridge   string `json:"bridge"`
	HostVeth string `json:"host_veth"`
	MAC      string `json:"mac"`
	IPv4     string `json:"ipv4,omitempty"`
	IPv6     string `json:"ipv6,omitempty"`
}

// ForwardInfo is a host port forwarded to the container.
type ForwardInfo struct {
	Protocol      string `json:"protocol"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
}

// BindMountInfo is a host folder mounted into the container.
type BindMountInfo struct {
	Target   string `json:"target"`
	HostPath string `json:"host_path"`
	ReadOnly bool   `json:"read_only"`
	Shift    bool   `json:"shift,omitempty"`
}

// LimitsInfo are the cgroup limits in force; empty or 0 means none.
type LimitsInfo struct {
	Memory    string  `json:"memory,omitempty"`
	CPUs      float64 `json:"cpus,omitempty"`
	Processes int     `json:"processes,omitempty"`
}

// UsageInfo is what a running container uses now: from its cgroup
// (memory current/peak in bytes, CPU seconds, processes) and per
// interface, from the host side of its veth, what the container received
// (rx) and sent (tx).
type UsageInfo struct {
	lxc.Usage
	Interfaces []InterfaceUsage `json:"interfaces"`
}

// InterfaceUsage is one interface's counters.
type InterfaceUsage struct {
	Name string `json:"name"`
	lxc.Counters
}

// runningFile records which generation a container was started on (or
// switched to in place), with the init pid it holds for.
const runningFile = "running.json"

type runningMark struct {
	Generation int    `json:"generation"`
	StorePath  string `json:"store_path"`
	InitPID    int    `json:"init_pid"`
}

// markRunning records that the container's init runs generation gen.
func (m *Manager) markRunning(name string, gen generations.Generation) error {
	pid, err := lxc.InitPID(m.Cfg.ContainersDir(), name)
	if err != nil || pid <= 0 {
		return nil // not running after all: nothing to record
	}
	data, err := json.Marshal(runningMark{Generation: gen.Number, StorePath: gen.StorePath, InitPID: pid})
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(m.Store.ContainerDir(name), runningFile), data, 0o644); err != nil {
		return wrap(name, "record the running generation", err)
	}
	return nil
}

// runningGeneration returns the generation the container's init (pid)
// runs, 0 when unknown.
func (m *Manager) runningGeneration(name string, pid int) int {
	data, err := os.ReadFile(filepath.Join(m.Store.ContainerDir(name), runningFile))
	if err != nil {
		return 0
	}
	var mark runningMark
	if json.Unmarshal(data, &mark) != nil || mark.InitPID != pid {
		return 0
	}
	return mark.Generation
}

// details fills what the record, the settings and LXC say about the
// container (no counters).
func (m *Manager) details(info *Info, rec *records.Record, s *generations.Settings) {
	d := &info.Details
	d.Interfaces = []InterfaceInfo{}
	for _, nic := range rec.Interfaces {
		d.Interfaces = append(d.Interfaces, InterfaceInfo{Name: nic.Name, Bridge: nic.Bridge, HostVeth: nic.HostVeth, MAC: nic.MAC, IPv4: nic.IPv4, IPv6: nic.IPv6})
	}
	d.Forwards, d.BindMounts = []ForwardInfo{}, []BindMountInfo{}
	if s != nil {
		for _, f := range s.ForwardPorts {
			d.Forwards = append(d.Forwards, ForwardInfo{Protocol: f.Protocol, HostPort: f.HostPort, ContainerPort: f.ContainerPort})
		}
		for target, b := range s.BindMounts {
			d.BindMounts = append(d.BindMounts, BindMountInfo{Target: target, HostPath: b.HostPath, ReadOnly: b.ReadOnly(), Shift: b.Shift})
		}
		sort.Slice(d.BindMounts, func(i, j int) bool { return d.BindMounts[i].Target < d.BindMounts[j].Target })
		l := withDefaults(s.Limits, m.Cfg.Defaults.Limits)
		d.Limits = LimitsInfo{Memory: l.Memory, CPUs: l.CPUs, Processes: l.Processes}
		d.Store = StoreMode(s, m.Cfg)
	}
	if info.State != "RUNNING" {
		return
	}
	pid := d.InitPID // the caller's, when it asked with the state
	if pid <= 0 {
		var err error
		if pid, err = lxc.InitPID(m.Cfg.ContainersDir(), rec.Name); err != nil || pid <= 0 {
			return
		}
	}
	d.InitPID = pid
	if t, err := lxc.ProcessStart(pid); err == nil {
		d.Started = &t
		d.UptimeSeconds = int64(time.Since(t).Seconds())
	}
	d.RunningGeneration = m.runningGeneration(rec.Name, pid)
}

// Info describes one container, with its live usage when it runs.
func (m *Manager) Info(name string) (Info, error) {
	rec, err := m.load(name)
	if err != nil {
		return Info{}, err
	}
	info := recordInfo(rec)
	if rec.Intent != nil && !m.Store.Busy(name) {
		info.Interrupted = rec.Intent.Op
	}
	var pid int
	info.State, pid, err = lxc.StateAndPID(m.Cfg.ContainersDir(), name)
	if err != nil {
		return Info{}, wrap(name, "info", err)
	}
	if pid > 0 {
		info.InitPID = pid
	}
	gen, s, err := m.currentOf(rec)
	if err != nil {
		return Info{}, err
	}
	info.Generation, info.Autostart = gen.Number, s.Autostart
	m.details(&info, rec, s)
	if info.Links, err = m.LinksInForce(name); err != nil {
		return Info{}, err
	}
	if info.InitPID <= 0 {
		return info, nil
	}
	u, err := lxc.ReadUsage(info.InitPID, name)
	if errors.Is(err, lxc.ErrNoCgroup) {
		return info, nil // it runs in no cgroup of its own: no usage to tell
	}
	if err != nil {
		return Info{}, wrap(name, "info", err)
	}
	info.Usage = &UsageInfo{Usage: u, Interfaces: []InterfaceUsage{}}
	for _, nic := range rec.Interfaces {
		c, err := lxc.VethCounters(nic.HostVeth)
		if err != nil {
			return Info{}, wrap(name, fmt.Sprintf("info: interface %s", nic.Name), err)
		}
		info.Usage.Interfaces = append(info.Usage.Interfaces, InterfaceUsage{Name: nic.Name, Counters: c})
	}
	return info, nil
}
