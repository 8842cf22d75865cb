# An offline guest system built by Nix from a static busybox: no nixpkgs,
# no binary cache. The result is a store path with `init` (the guest's
# PID 1) and `bin/` (every busybox applet).
#
# busybox comes from the host when it has a static one (Debian:
# `apt-get install busybox-static`), else from nixpkgs' pkgsStatic (NixOS).
#
# Arguments (all optional) let tests build variants:
#   marker         a word the guest writes to /run/marker at boot
#   switchExitCode when set, the system has bin/switch-to-configuration,
#                  which records its arguments in /run/switch-calls and
#                  exits with this code
#   switchStderr   what that switch-to-configuration prints on stderr
#                  first (as nixpkgs' does: failed units, activation
#                  snippets, pre-switch checks)
#   haltSignals    the signals init shuts down on (trap names/numbers)
#   initMode       "ok"; "not-executable": init is not executable (a
#                  system that cannot boot); "cannot-exec": init names an
#                  interpreter that does not exist (it fails at start)
#   package        when set, a word: the system links `package` to a
#                  package of its own whose bin/hello prints the word
#   extraPaths     store paths the system refers to (listed in
#                  `extra-paths`), so they are in its closure; see
#                  many-paths.nix
{ marker ? "busybox", switchExitCode ? null, switchStderr ? "", haltSignals ? "37 PWR TERM INT", initMode ? "ok"
, package ? null, extraPaths ? [ ] }:
let
  hostBusybox = dir:
    "${builtins.path { path = dir; name = "busybox-static"; filter = p: t: baseNameOf p == "busybox"; }}/busybox";
  busybox =
    if builtins.pathExists /usr/bin/busybox then hostBusybox /usr/bin
    else if builtins.pathExists /bin/busybox then hostBusybox /bin
    else "${(import <nixpkgs> { }).pkgsStatic.busybox}/bin/busybox";

  # PID 1: bring the system up, write the marker, then wait for children
  # (ash's wait reaps every child, orphans included) until LXC's halt
  # signal (SIGRTMIN+3 = 37, systemd's) or SIGPWR/SIGTERM asks for a clean
  # shutdown: end every process, sync, exit.
  init = ''
    #!@out@/bin/sh
    export PATH=@out@/bin
    mkdir -p /proc /sys /dev /run /tmp /bin /etc /root /var
    [ -r /proc/self/mounts ] || mount -t proc proc /proc
    mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
    ln -sfn @out@/bin/sh /bin/sh
    [ -e /etc/passwd ] || echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd
    [ -e /etc/group ] || echo 'root:x:0:' > /etc/group
    echo @marker@ > /run/marker
    ip link set lo up
    # With network.enableNat: DHCP on `internet` (the host's dnsmasq
    # gives the fixed lease), IPv6 by router advertisements (SLAAC).
    if [ -e /sys/class/net/internet ]; then
      udhcpc -b -i internet -s @out@/udhcpc.script -x hostname:$(hostname) >/run/udhcpc.log 2>&1
    fi
    echo "booted $(hostname)" > /run/booted
    shutdown() {
      echo "$1" > /var/halted
      trap "" TERM
      kill -TERM -1 2>/dev/null
      sleep 0.2
      kill -KILL -1 2>/dev/null
      sync
      exit 0
    }
    for sig in @haltSignals@; do trap "shutdown $sig" $sig; done
    while :; do
      sleep 3600 &
      wait
    done
  '';

  # udhcpc calls this with the lease in its environment.
  dhcpScript = ''
    #!@out@/bin/sh
    export PATH=@out@/bin
    case "$1" in
      deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
      bound|renew)
        ip -4 addr flush dev "$interface"
        ip addr add "$ip/$mask" dev "$interface"
        [ -n "$router" ] && ip route replace default via "''${router%% *}" dev "$interface"
        : > /etc/resolv.conf
        for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done ;;
    esac
  '';

  packageDrv = derivation {
    name = "busybox-package-${package}";
    system = builtins.currentSystem;
    builder = busybox;
    word = package;
    preferLocalBuild = true;
    allowSubstitutes = false;
    args = [ "sh" "-c" ''
      B=${busybox}
      $B mkdir -p $out/bin
      printf '#!%s sh\necho %s\n' $B "$word" > $out/bin/hello
      $B chmod 555 $out/bin/hello
    '' ];
  };

  switch = ''
    #!@out@/bin/sh
    echo "$*" >> /run/switch-calls
    cat @out@/switch-stderr >&2
    exit ${toString switchExitCode}
  '';
in
derivation ({
  name = "busybox-guest-${marker}";
  system = builtins.currentSystem;
  builder = busybox;
  inherit init marker dhcpScript haltSignals initMode;
  # Built from local files only: never ask a binary cache.
  preferLocalBuild = true;
  allowSubstitutes = false;
  switch = if switchExitCode == null then "" else switch;
  inherit switchStderr;
  args = [ "sh" "-c" ''
    set -e
    B=${busybox}
    $B mkdir -p $out/bin
    for applet in $($B --list); do $B ln -s $B $out/bin/$applet; done
    $B ln -sf $B $out/bin/busybox
    subst() { $B sed -e "s|@out@|$out|g" -e "s|@marker@|$marker|g" -e "s|@haltSignals@|$haltSignals|g" -e 's|^    ||'; }
    echo "$init" | subst > $out/init
    $B chmod 555 $out/init
    case "$initMode" in
      not-executable) $B chmod 444 $out/init ;;
      cannot-exec) $B sed -i -e '1s|.*|#!/nonexistent/sh|' $out/init ;;
    esac
    echo "$dhcpScript" | subst > $out/udhcpc.script
    $B chmod 555 $out/udhcpc.script
    if [ -n "$package" ]; then $B ln -s "$package" $out/package; fi
    if [ -n "$extraPaths" ]; then echo "$extraPaths" > $out/extra-paths; fi
    if [ -n "$switch" ]; then
      echo "$switch" | subst > $out/bin/switch-to-configuration
      $B chmod 555 $out/bin/switch-to-configuration
      printf %s "$switchStderr" > $out/switch-stderr
    fi
  '' ];
}
# Only set, so the default system stays the same derivation.
// (if package == null then { } else { package = packageDrv; })
// (if extraPaths == [ ] then { } else { extraPaths = map toString extraPaths; }))
