package containers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/nixcloud/nixcloud-container/bridges"
	"github.com/nixcloud/nixcloud-container/hostconfig"
	"github.com/nixcloud/nixcloud-container/lxc"
	"github.com/nixcloud/nixcloud-container/records"
)

// ErrContainersRunning means host teardown would cut running containers off.
var ErrContainersRunning = errors.New("containers are running")

// runningRecords are the readable records of the running containers.
func (m *Manager) runningRecords() ([]*records.Record, error) {
	recs, _, err := m.Store.ListAll()
	if err != nil {
		return nil, err
	}
	var out []*records.Record
	for _, r := range recs {
		if run, err := m.running(r.Name); err == nil && run {
			out = append(out, r)
		}
	}
	return out, nil
}

// hostPorts are the container's ports on the tool's bridges, as the host
// repairs them: the hostonly address, and on internet the lease with the
// default route through the bridge (what DHCP gives the guest).
func (m *Manager) hostPorts(rec *records.Record) []bridges.Port {
	var out []bridges.Port
	for _, nic := range rec.Interfaces {
		if nic.Bridge != m.Cfg.Hostonly.Bridge && nic.Bridge != m.Cfg.Internet.Bridge {
			continue // a bridge of the user's: not ours to change
		}
		p := bridges.Port{Container: rec.Name, Veth: nic.HostVeth, Bridge: nic.Bridge, NIC: nic.Name, MAC: nic.MAC}
		p.IPv4, _ = netip.ParsePrefix(nic.IPv4) // invalid when there is none
		if nic.Name == bridges.NICInternet {
			if br, err := bridges.InternetPrefix(m.Cfg); err == nil {
				p.Gateway = br.Addr()
			}
		}
		out = append(out, p)
	}
	return out
}

// HostSetup converges the host's networking (bridges.Setup) and then
// repairs the host side of every running container: a veth whose bridge
// was deleted and made anew becomes its port again, a deleted veth pair is
// made anew (in the container too, with its MAC and address), and its
// port flags, packet filter and forwards are set again. Each repaired
// container is named through Notify.
func (m *Manager) HostSetup(ctx context.Context) error {
	if err := m.hostStep(bridges.Setup); err != nil {
		return err // names the step
	}
	recs, err := m.runningRecords()
	if err != nil {
		return fmt.Errorf("host setup: %w", err)
	}
	var errs []error
	for _, r := range recs {
		if err := m.repairHostSide(ctx, r.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// repairHostSide repairs one running container's host side, under its lock.
func (m *Manager) repairHostSide(ctx context.Context, name string) error {
	l, rec, err := m.begin(ctx, name, false)
	if err != nil {
		return err
	}
	defer l.Unlock()
	if run, err := m.running(name); err != nil || !run {
		return err
	}
	var fixed []string
	for _, p := range m.hostPorts(rec) {
		problem, err := bridges.PortProblem(p)
		if err != nil {
			return wrap(name, "host setup", err)
		}
		switch {
		case problem == "":
			continue
		case problem == "veth missing":
			pid, err := lxc.InitPID(m.Cfg.ContainersDir(), name)
			if err != nil {
				return wrap(name, "host setup", err)
			}
			if err := bridges.RecreatePort(p, pid); err != nil {
				return wrap(name, "host setup", err)
			}
		}
		fixed = append(fixed, p.Veth+" ("+problem+")")
	}
	_, settings, err := m.currentOf(rec)
	if err != nil {
		return err
	}
	if err := m.reassert(rec, settings); err != nil {
		return err
	}
	if len(fixed) > 0 {
		m.notify("container %q: repaired %s", name, strings.Join(fixed, ", "))
	}
	return nil
}

// HostStatus reports the host's networking (bridges.HostStatus) and, for
// every running container, whether each of its ports is a port of its
// bridge, up, with hairpin mode and a packet filter, and whether its
// forwards are there.
func (m *Manager) HostStatus() (bridges.Status, error) {
	st, err := bridges.HostStatus(m.Cfg)
	if err != nil {
		return st, err
	}
	recs, err := m.runningRecords()
	if err != nil {
		return st, fmt.Errorf("host status: %w", err)
	}
	filtered, err := bridges.FilteredPorts(m.Cfg)
	if err != nil {
		return st, fmt.Errorf("host status: %w", err)
	}
	plan, _, err := m.loadLinkPlan("")
	if err != nil {
		return st, fmt.Errorf("host status: %w", err)
	}
	for _, r := range recs {
		items, err := m.linkStatus(r, plan)
		if err != nil {
			return st, err
		}
		st.Items = append(st.Items, items...)
		for _, p := range m.hostPorts(r) {
			problem, err := bridges.PortProblem(p)
			if err != nil {
				return st, wrap(r.Name, "host status", err)
			}
			if !filtered[p.Veth] {
				problem = strings.TrimPrefix(problem+", no packet filter", ", ")
			}
			st.Items = append(st.Items, bridges.StatusItem{
				Name: fmt.Sprintf("container %s: port %s on %s", r.Name, p.Veth, p.Bridge), Present: problem == "", Detail: problem})
		}
		_, settings, err := m.currentOf(r)
		if err != nil || len(settings.ForwardPorts) == 0 {
			continue
		}
		ok, err := bridges.ForwardsPresent(m.Cfg, r.Name)
		if err != nil {
			return st, wrap(r.Name, "host status", err)
		}
		st.Items = append(st.Items, bridges.StatusItem{Name: fmt.Sprintf("container %s: port forwards", r.Name), Present: ok})
	}
	return st, nil
}

// HostTeardown removes the host's networking (bridges.Teardown). While
// containers run it refuses, naming them, unless force: they would be cut
// off.
func (m *Manager) HostTeardown(force bool) error {
	if !force {
		recs, err := m.runningRecords()
		if err != nil {
			return fmt.Errorf("host teardown: %w", err)
		}
		if len(recs) > 0 {
			names := make([]string, len(recs))
			for i, r := range recs {
				names[i] = r.Name
			}
			return fmt.Errorf("host teardown: %w (%s): stop them first, or use --force to cut them off", ErrContainersRunning, strings.Join(names, ", "))
		}
	}
	return errors.Join(m.hostStep(bridges.Teardown), m.removeStaleStoreViews()) // names the step
}

// hostStep runs a change of the host's networking under the network lock.
func (m *Manager) hostStep(step func(hostconfig.Config) error) error {
	unlock, err := LockNetwork(m.Cfg)
	if err != nil {
		return fmt.Errorf("host: %w", err)
	}
	defer unlock()
	return step(m.Cfg)
}
