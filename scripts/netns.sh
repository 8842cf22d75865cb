# Sourced by the demo and the benchmarks: nsexec NS CMD... runs CMD in the
# network namespace NS with the host's cgroup file systems mounted again.
# `ip netns exec` gives the command a fresh /sys for the namespace, which
# hides /sys/fs/cgroup; LXC then finds no cgroup hierarchy and cannot set
# a container's limits (the default process ceiling among them). The
# mounts happen in the command's private mount namespace only.
cgroup_mounts=$(awk '{
  for (i = 7; i <= NF && $i != "-"; i++) ;
  mp = $5; fs = $(i + 1); opts = $(i + 3)
  if ((mp == "/sys/fs/cgroup" || index(mp, "/sys/fs/cgroup/") == 1) && (fs == "tmpfs" || fs == "cgroup" || fs == "cgroup2"))
    printf "mkdir -p %s && mount -t %s -o %s %s %s\n", mp, fs, opts, fs, mp
}' /proc/self/mountinfo)
nsexec_in() {
  local ns=$1
  shift
  ip netns exec "$ns" sh -ec "$cgroup_mounts"'
exec "$0" "$@"' "$@"
}
