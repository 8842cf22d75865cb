# Guest-side NixOS module that every NixOS container built by
# nixcloud-container imports: what a NixOS system needs to boot well as an
# unprivileged LXC container that
#   - is started directly by `lxc.init.cmd = <generation>/init` (no /sbin/init,
#     no boot loader),
#   - sees the host's /nix/store bind-mounted read-only, owned by nobody, with
#     no Nix database and no nix-daemon socket,
#   - has the veth `hostonly` (static IPv4, set by LXC) and, with enableNat,
#     the veth `internet` (DHCP + RA from the host's dnsmasq).
#
# It mirrors the parts of nixpkgs' lxc-container.nix and of distrobuilder's
# LXC systemd generator that matter here, and nothing that is about images
# (tarballs, metadata, /nix-path-registration).
#
# Every NixOS option used here exists since NixOS 22.05 (nix.enable is the
# newest one).
{ config, lib, pkgs, ... }:
let
  cfg = config.nixcloudContainer;

  # nixpkgs >= 23.11 packages distrobuilder's generator (NixOS/nixpkgs#264929);
  # older ones do not. `or` keeps the module evaluating on both.
  lxcGenerator = (pkgs.distrobuilder or { }).generator or null;

  udevadm = "${config.systemd.package}/bin/udevadm";
in
{
  options.nixcloudContainer = {
    name = lib.mkOption {
      type = lib.types.str;
      description = "Container name (set by nixcloud-container).";
    };
    ip = lib.mkOption {
      type = lib.types.str;
      default = "";
      description = "IPv4 address on the hostonly interface (set by nixcloud-container; LXC configures it too).";
    };
    prefixLength = lib.mkOption {
      type = lib.types.int;
      default = 16;
      description = "Prefix length of the hostonly network.";
    };
    gateway = lib.mkOption {
      type = lib.types.str;
      default = "";
      description = ''
        Address of the hostonly bridge on the host. Informational: the host is
        reachable on the hostonly subnet, but there is no default route through it.
      '';
    };
    enableNat = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Whether the container has the interface `internet` (DHCP, default route, DNS, IPv6 RA).";
    };
  };

  config = lib.mkMerge [
    {
      # Container semantics: no kernel, no initrd, no boot loader, no audit,
      # installBootLoader is a no-op (LXC starts <generation>/init directly,
      # so there is no /sbin/init to keep up to date as in lxc-container.nix).
      boot.isContainer = true;

      # LXC starts <generation>/init, i.e. the toplevel's `init`. With
      # systemd in the initrd (24.05/24.11: boot.initrd.systemd.enable),
      # top-level.nix makes that `init` systemd itself instead of stage-2,
      # which sets up /run/current-system, runs the activation script and only
      # then execs systemd: a container booted that way would come up without
      # its system. A container has no initrd anyway, so force it off, above
      # a plain definition in the container's configuration.
      boot.initrd.systemd.enable = lib.mkForce false;

      # LXC already sets the UTS name to the container name; keep NixOS in line.
      networking.hostName = lib.mkDefault cfg.name;

      # /etc/hosts is the file the tool keeps in the container's profile
      # folder (read-only here): localhost, this container, and the
      # containers its links let it reach (their network.allowFrom names
      # it), rewritten as containers come, go and change address. It
      # replaces NixOS' own (networking.hosts); a definition with mkForce in
      # the container's configuration takes /etc/hosts back.
      environment.etc.hosts.source = lib.mkOverride 60 "/nix/var/nixcloud-container/profile/hosts";

      ## Networking ##########################################################
      # Scripted networking (the NixOS default) knows containers: in
      # boot.isContainer it does not wait for udev device units, which never
      # appear here (udevd does not run in an unprivileged container).

      # No DHCP anywhere unless asked for below: in particular not on hostonly.
      # Priority 900, not mkDefault: a generated hardware-configuration.nix
      # says `mkDefault true`, and two mkDefaults that differ are an error.
      networking.useDHCP = lib.mkOverride 900 false;

      # boot.isContainer defaults this to true (the nspawn way: a resolv.conf
      # copied in by the host). LXC supplies none; DNS comes from DHCP on
      # `internet`. Priority 900: beats that mkDefault, loses to a plain
      # definition in the container's configuration. Also lets
      # services.resolved be enabled (NixOS/nixpkgs#69414).
      networking.useHostResolvConf = lib.mkOverride 900 false;

      # hostonly: the same static address LXC already put on the interface
      # (lxc.net.0.ipv4.address). Declaring it lets NixOS (firewall, services
      # binding to it) know it; `ip addr replace` of an existing address is a
      # no-op, so NixOS does not fight LXC. No gateway and no DNS here: the
      # hostonly network is host <-> container only.
      networking.interfaces.hostonly = {
        useDHCP = false;
        ipv4.addresses = lib.optional (cfg.ip != "") {
          address = cfg.ip;
          prefixLength = cfg.prefixLength;
        };
      };
      # Belt and braces: dhcpcd never touches hostonly, even if a user turns
      # networking.useDHCP back on.
      networking.dhcpcd.denyInterfaces = [ "hostonly" ];

      ## Nix ###############################################################
      # The store is the host's, read-only; there is no Nix database and no
      # daemon socket in the guest: nix-daemon, nix-gc and friends cannot work
      # and the guest must never try to manage the store. mkDefault: a
      # container that gets the host's daemon socket bind-mounted may turn Nix
      # back on (NIX_REMOTE=daemon is already set by boot.isContainer).
      nix.enable = lib.mkDefault false;

      ## systemd under unprivileged LXC ##########################################
      # As nixpkgs' lxc-container.nix: networkd (if a container enables it)
      # waits for udev-trigger, which the systemd module leaves out in
      # containers.
      systemd.additionalUpstreamSystemUnits = [ "systemd-udev-trigger.service" ];
      # ... and as distrobuilder's generator: /sys is not ours, so triggering
      # uevents fails; do not let that mark the unit (and the boot) failed.
      systemd.services.systemd-udev-trigger.serviceConfig.ExecStart = [
        ""
        "-${udevadm} trigger --type=subsystems --action=add"
        "-${udevadm} trigger --type=devices --action=add"
      ];
      # Only the network namespace's sysctls (net.*) are writable; the rest of
      # /proc/sys is the host's. Failures are expected, not fatal
      # (distrobuilder: fix_systemd_sysctl).
      systemd.services.systemd-sysctl.serviceConfig.ExecStart = [
        ""
        "-${config.systemd.package}/lib/systemd/systemd-sysctl"
      ];

      # Mask units that cannot work without real root on the host
      # (distrobuilder's fix_systemd_mask list, plus the kernel pseudo-fs
      # mounts that a user namespace cannot mount). enable = false makes NixOS
      # link them to /dev/null, i.e. masked. Services and sockets through
      # their own options (NixOS defines some of them there too; setting
      # systemd.units.<unit>.enable as well would conflict), mounts through
      # systemd.units (systemd.mounts is a list).
      systemd.services.systemd-modules-load.enable = false;    # no CAP_SYS_MODULE on the host
      systemd.services.systemd-pstore.enable = false;          # /sys/fs/pstore is the host's
      systemd.sockets.systemd-journald-audit.enable = false;  # audit is not namespaced
      systemd.units."dev-hugepages.mount".enable = false;
      systemd.units."sys-kernel-debug.mount".enable = false;
      systemd.units."sys-kernel-tracing.mount".enable = false;
      systemd.units."sys-fs-fuse-connections.mount".enable = false;
      systemd.units."sys-kernel-config.mount".enable = false;

      # Sandboxing options that need mounts or capabilities a non-nested
      # unprivileged container lacks (ProtectProc, ProtectKernelTunables, ...):
      # relaxed per unit, only when PID 1 runs with container=lxc and without
      # nesting (/dev/.lxc), by distrobuilder's generator; it also repeats the
      # masks and relaxations above at runtime. Without the packaged generator
      # (older nixpkgs), ship the static drop-in lxc-container.nix used to ship
      # before it switched to the generator (unprivileged subset).
      systemd.packages =
        if lxcGenerator != null then [ lxcGenerator ]
        else [
          (pkgs.writeTextFile {
            name = "nixcloud-container-lxc-service-overrides";
            destination = "/etc/systemd/system/service.d/zzz-lxc-service.conf";
            text = ''
              [Service]
              ProcSubset=all
              ProtectProc=default
              ProtectControlGroups=no
              ProtectKernelTunables=no
              NoNewPrivileges=no
              LoadCredential=
            '';
          })
        ];

      ## Console ###########################################################
      # boot.isContainer enables console-getty.service on /dev/console (the
      # pty behind `lxc-console -t 0` and lxc.console.logfile); systemd's
      # getty generator adds container-getty@N for LXC's ttys
      # ($container_ttys, `lxc-console -t N`). Only the host's root can reach
      # them, and the guest's root has no password, so log in as root.
      services.getty.autologinUser = lib.mkDefault "root";
      # Since 25.05 container-config.nix says `console.enable = mkDefault
      # false` (NixOS/nixpkgs#363533), and the getty module then masks
      # console-getty: no login on the console at all, autologin or not.
      # Turn it back on. Priority 900, not mkDefault: two mkDefaults that
      # differ are an error; a plain definition in the container's
      # configuration still wins. (24.05/24.11 default it to true already.)
      console.enable = lib.mkOverride 900 true;
    }

    # systemd >= 258 (NixOS 25.11) cannot set up console-getty's
    # /dev/console when /sys is mounted read-write, as LXC's userns.conf does
    # (lxc.mount.auto = sys:rw): the unit fails at spawn and restarts, the
    # system is "degraded" (systemd/systemd#39036, canonical/lxd#16860).
    # Skip it in that case instead: a skipped condition is not a failure, so
    # the boot is not degraded, but there is then no getty on /dev/console.
    # The conservative choice: whether a drop-in could make the unit work
    # with /sys rw was not verifiable here (no NixOS 25.11 guest can be run),
    # and vpsAdminOS' 25.11 profile was not found to compare. With
    # `lxc.mount.auto = sys:ro` in extraLxcConfig the condition holds and
    # console-getty runs as before. The container-getty@N units on LXC's
    # ttys do not use /dev/console (not verified on 258 either).
    (lib.mkIf (lib.versionAtLeast (config.systemd.package.version or "0") "258") {
      systemd.services.console-getty.unitConfig.ConditionPathIsReadWrite = "!/sys";
    })

    # internet: DHCP for IPv4 (default route + DNS via the bridge), RA (and
    # DHCPv6 if the RA says "managed") for IPv6 -- dhcpcd does both.
    (lib.mkIf cfg.enableNat {
      networking.interfaces.internet.useDHCP = true;
      networking.dhcpcd = {
        # network-online.target = an IPv4 lease; never wait for IPv6, which
        # the host may not offer (the original's `waitip 6` stalled boots).
        wait = lib.mkDefault "ipv4";
        extraConfig = ''
          # nixcloud-container: the host's dnsmasq keys the fixed lease on the
          # MAC (derived from the slot); send it as client id, not a DUID.
          clientid
          # The lease is fixed: no need to probe for conflicts or fall back
          # to link-local IPv4 while dnsmasq answers.
          noarp
          noipv4ll
          # The host's packet filter lets IPv6 out of this port only from
          # the EUI-64 SLAAC address of its MAC (and link-local): no
          # RFC 7217 or temporary addresses.
          slaac hwaddr
        '';
      };
      networking.tempAddresses = lib.mkDefault "disabled";
    })

    # Same for a container that opts into systemd-networkd: NixOS turns the
    # interface options above into 40-<name>.network files; complete them.
    (lib.mkIf config.networking.useNetworkd {
      # networkd would otherwise drop LXC's address when it (re)configures.
      systemd.network.networks."40-hostonly".networkConfig.KeepConfiguration = "static";
    })
    (lib.mkIf (cfg.enableNat && config.networking.useNetworkd) {
      systemd.network.networks."40-internet" = {
        dhcpV4Config.ClientIdentifier = "mac"; # networkd defaults to a DUID
        networkConfig.IPv6AcceptRA = true;
        # The EUI-64 address, the only global one the host lets out.
        networkConfig.IPv6PrivacyExtensions = false;
        ipv6AcceptRAConfig.Token = "eui64";
      };
    })
  ];
}
