# The NixOS host module of nixcloud-container:
#
#   imports = [ /path/to/nixcloud-container/nixos/module.nix ];
#   nixcloud.container.enable = true;
#   nixcloud.container.containers.web = {
#     config = { pkgs, ... }: { services.nginx.enable = true; };
#     autoStart = true;
#     forwardPorts = [ { hostPort = 8080; containerPort = 80; } ];
#   };
#
# It sets the host up (the package, LXC, root's subuid/subgid ranges, the
# kernel settings, bridges and dnsmasq at boot, containers started after
# the network and stopped cleanly at shutdown, the firewall opened for
# DHCP/DNS on brNC-internet with either backend) and converges the declared
# containers with `nixcloud-container apply` whenever the system is
# activated (nixos-rebuild switch, boot). Guest systems are built with the
# host's nixpkgs by the wrapper the CLI uses; each container keeps its own
# generations, updates and rollbacks.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkIf types;
  cfg = config.nixcloud.container;
  settingsFormat = pkgs.formats.toml { };

  rendered = import ./render.nix {
    inherit cfg;
    wrapper = ../guest-patches/wrapper.nix;
    evalConfig = args: import (pkgs.path + "/nixos/lib/eval-config.nix")
      (args // { system = pkgs.stdenv.hostPlatform.system; });
  };

  hostToml = settingsFormat.generate "nixcloud-container-host.toml" rendered.hostSettings;
  specJSON = pkgs.writeText "nixcloud-container-spec.json" (builtins.toJSON rendered.spec);
  # The SPEC `apply` reads (spec.nix: systems as store paths with context).
  specFile = pkgs.writeText "nixcloud-container-spec.nix" "import ${./spec.nix} ${specJSON}\n";

  exe = "${cfg.package}/bin/nixcloud-container";
  toolPath = [ cfg.package config.nix.package pkgs.lxc pkgs.dnsmasq pkgs.iptables pkgs.nftables pkgs.iproute2 pkgs.shadow pkgs.coreutils ];
  internetBridge = (rendered.hostSettings.internet or { }).bridge or "brNC-internet";
  idmap = { base = 100000; size = 65536; isolated = true; } // (rendered.hostSettings.idmap or { });
  idCount = idmap.size * (if idmap.isolated then cfg.subIdSlots else 1);
  # Other users' subordinate ids that root's range would share: their
  # declared ranges, and the 65536 ids NixOS gives each user with
  # autoSubUidGidRange (every normal user) from 100000 up, one block per
  # such user (at least: the blocks of deleted users stay taken).
  overlaps = start: count: start < idmap.base + idCount && idmap.base < start + count;
  otherUsers = builtins.removeAttrs (config.users.users or { }) [ "root" ];
  autoUsers = builtins.filter (n: otherUsers.${n}.autoSubUidGidRange or false) (builtins.attrNames otherUsers);
  sharedIds = builtins.filter (x: x != null) (builtins.concatMap
    (n: map (r: if overlaps (r.startUid or r.startGid) r.count then "${n} (${toString (r.startUid or r.startGid)}+${toString r.count})" else null)
      ((otherUsers.${n}.subUidRanges or [ ]) ++ (otherUsers.${n}.subGidRanges or [ ])))
    (builtins.attrNames otherUsers))
    ++ lib.optional (autoUsers != [ ] && overlaps 100000 (65536 * builtins.length autoUsers))
      "${lib.concatStringsSep ", " autoUsers} (NixOS' automatic ranges from 100000)";

  nullable = t: description: mkOption { type = types.nullOr t; default = null; inherit description; };

  containerModule = { name, ... }: {
    options = {
      configuration = nullable (types.deferredModule or types.unspecified) ''
        The container's NixOS configuration (a module), built with the host's nixpkgs.
        Receives `name` and `ip` as module arguments.'';
      config = nullable (types.deferredModule or types.unspecified) "nixos-container's spelling of `configuration`.";
      system = nullable types.package "A prebuilt system with an executable `init`, instead of `configuration`.";
      autostart = nullable types.bool "Start the container at boot and whenever `apply` runs (default false).";
      autoStart = nullable types.bool "nixos-container's spelling of `autostart`.";
      autostartPriority = nullable types.int "Higher starts first.";
      autostartDelay = nullable types.number "Seconds to wait after starting it before the next one.";
      ephemeral = nullable types.bool "A fresh root file system at every start.";
      network = {
        bridge = nullable types.str "Bridge of the first interface (default brNC-hostonly).";
        ip = nullable types.str ''
          IPv4 address on the hostonly bridge. Default: derived from the name (see `address`).'';
        enableNat = nullable types.bool "A second interface `internet` with DHCP and NAT.";
        allowFrom = nullable
          (types.listOf (types.submodule {
            options = {
              container = mkOption { type = types.str; description = "The container allowed to connect."; };
              ports = mkOption { type = types.listOf types.str; description = "Ports it may reach, like \"tcp/80\"."; };
            };
          }))
          "Containers that may connect to this one (one direction), by name and port.";
      };
      store = nullable (types.enum [ "closure" "all" ]) "What the container sees of /nix/store: its own closure (default) or all of it.";
      address = mkOption {
        type = types.str;
        readOnly = true;
        default = rendered.addresses.${name};
        defaultText = "network.ip, or an address derived from the name";
        description = "The container's hostonly IPv4 address, known at evaluation time.";
      };
      bindMounts = mkOption {
        default = { };
        description = "Bind mounts, by mount point (as nixos-container).";
        type = types.attrsOf (types.submodule ({ name, ... }: {
          options = {
            mountPoint = nullable types.str "Mount point in the container (default: the attribute name).";
            hostPath = nullable types.str "Host path (default: the mount point).";
            isReadOnly = nullable types.bool "Read-only (default true).";
            shift = nullable types.bool "Idmapped mount (files owned by container root appear as its root).";
          };
        }));
      };
      forwardPorts = mkOption {
        default = [ ];
        description = "Host ports forwarded to the container (as nixos-container).";
        type = types.listOf (types.submodule {
          options = {
            protocol = mkOption { type = types.enum [ "tcp" "udp" ]; default = "tcp"; description = "tcp or udp."; };
            hostPort = mkOption { type = types.port; description = "Port on the host."; };
            containerPort = nullable types.port "Port in the container (default: hostPort).";
          };
        });
      };
      limits = {
        memory = nullable types.str "Memory ceiling, like \"512M\".";
        cpus = nullable types.number "CPUs (may be fractional).";
        processes = nullable types.int "Task ceiling.";
      };
      extraLxcConfig = mkOption { type = types.listOf types.str; default = [ ]; description = "Raw LXC items."; };
      haltSignal = nullable types.str "Signal that shuts the guest down cleanly.";
    };
  };
in
{
  options.nixcloud.container = {
    enable = mkEnableOption "nixcloud-container: NixOS containers on unprivileged LXC with generations";
    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = "the package built from this repository (nixos/package.nix)";
      description = "The nixcloud-container package.";
    };
    internetInterface = mkOption {
      type = types.str;
      default = "";
      example = "enp0s3";
      description = "Uplink that brNC-internet is NATed to (host.toml internet.uplink); empty: the default route's.";
    };
    ipv6 = {
      enable = mkEnableOption "a routed IPv6 prefix on brNC-internet";
      ipv6InternetInterfaceAddress = mkOption { type = types.str; default = ""; description = "The host's address on brNC-internet, inside the prefix."; };
      ipv6Prefix = mkOption { type = types.str; default = ""; example = "2001:db8:1::"; description = "The routed prefix (without length)."; };
      ipv6PrefixLength = mkOption { type = types.int; default = 64; description = "Its length (64 or shorter)."; };
      ipv6NameServers = mkOption { type = types.listOf types.str; default = [ ]; description = "DNS servers announced to containers."; };
    };
    settings = mkOption {
      type = settingsFormat.type;
      default = { };
      example = { hostonly.isolate_containers = true; defaults.limits.memory = "2G"; };
      description = "Everything else of host.toml (see the README); merged over the options above.";
    };
    subIdSlots = mkOption {
      type = types.ints.positive;
      default = 256;
      description = "Containers root's /etc/subuid and /etc/subgid range is sized for (isolated id ranges).";
    };
    prune = mkOption {
      type = types.bool;
      default = false;
      description = "Destroy declared containers removed from the configuration (default: stop and keep them).";
    };
    containers = mkOption {
      type = types.attrsOf (types.submodule containerModule);
      default = { };
      description = "Declared containers: the container file's keys, with nixos-container's spellings accepted.";
    };
    internal = mkOption {
      type = types.attrs;
      readOnly = true;
      internal = true;
      default = { inherit (rendered) hostSettings spec addresses; };
      description = "What the module renders (host.toml settings, the SPEC), for tests and nixos-option.";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = rendered.duplicateAddresses == [ ];
        message = "nixcloud.container.containers: ${lib.concatStringsSep ", " rendered.duplicateAddresses} have the same address; set network.ip";
      }
      {
        # The tool refuses a container whose ids another user may map, and
        # two owners of one id range are not isolated from each other.
        assertion = sharedIds == [ ];
        message = "nixcloud.container: root's subordinate id range ${toString idmap.base}+${toString idCount} (settings.idmap.base, size, subIdSlots) overlaps the ranges of ${lib.concatStringsSep "; " sharedIds}; move settings.idmap.base";
      }
      {
        assertion = !cfg.ipv6.enable || (cfg.ipv6.ipv6Prefix != "" && cfg.ipv6.ipv6PrefixLength <= 64);
        message = "nixcloud.container.ipv6: set ipv6Prefix, with ipv6PrefixLength 64 or shorter";
      }
    ];

    environment.systemPackages = [ cfg.package ];
    environment.etc."nixcloud-container/host.toml".source = hostToml;
    environment.etc."nixcloud-container/spec.nix".source = specFile;
    # Declared guests are part of the host's closure: built by nixos-rebuild.
    system.extraDependencies = [ specJSON ];

    virtualisation.lxc.enable = true;
    # Root's ranges, declared: NixOS rewrites /etc/subuid at activation.
    users.users.root.subUidRanges = [ { startUid = idmap.base; count = idCount; } ];
    users.users.root.subGidRanges = [ { startGid = idmap.base; count = idCount; } ];

    # A sysctl takes exactly one definition at the highest priority: a
    # plain one here would fail the evaluation of every host that sets
    # "net.ipv4.ip_forward" itself (many do), mkDefault would clash with
    # other modules' mkDefault. Priority 999 yields to the former and
    # wins over the latter without a clash; `host setup` sets them anyway.
    boot.kernel.sysctl = builtins.mapAttrs (_: lib.mkOverride 999) ({
      "net.ipv4.ip_forward" = 1;
    } // lib.optionalAttrs cfg.ipv6.enable ({
      "net.ipv6.conf.all.forwarding" = 1;
    } // lib.optionalAttrs (cfg.internetInterface != "") {
      "net.ipv6.conf.${cfg.internetInterface}.accept_ra" = 2;
    }));

    # DHCP and DNS (and DHCPv6) from dnsmasq on the internet bridge; both
    # firewall backends (iptables, networking.nftables.enable) read this.
    networking.firewall.interfaces.${internetBridge} = {
      allowedUDPPorts = [ 53 67 ] ++ lib.optional cfg.ipv6.enable 547;
      allowedTCPPorts = [ 53 ];
    };
    # A reload of nftables.service with flushRuleset flushes the whole
    # ruleset, the tool's packet filter and NAT tables included: delete
    # only NixOS' own tables instead. nixpkgs sets its own mkDefault (true
    # before stateVersion 23.11 or with `ruleset`/`rulesetFile`), so a
    # second mkDefault would conflict: this one is a little stronger, and
    # left out where the host's own ruleset needs the flush (it would pile
    # up on every reload); there the host unit re-asserts the tool's
    # tables after each reload (ReloadPropagatedFrom below).
    networking.nftables.flushRuleset =
      mkIf ((config.networking.nftables.ruleset or "") == "" && (config.networking.nftables.rulesetFile or null) == null)
        (lib.mkOverride 900 false);

    systemd.services.nixcloud-container-host = {
      description = "nixcloud-container host networking (bridges, dnsmasq, NAT)";
      wants = [ "network-online.target" ];
      after = [ "network-online.target" "firewall.service" "nftables.service" ];
      wantedBy = [ "multi-user.target" ];
      # A firewall reload may have flushed the tool's tables: set them
      # (and every running container's filter and forwards) up again.
      unitConfig.ReloadPropagatedFrom = [ "nftables.service" "firewall.service" ];
      # Never restarted by activation (a new package or lxc, dnsmasq or
      # iptables changes the unit): nixcloud-container.service requires
      # this unit, so systemd would restart that one too, and its stop
      # stops every container. host setup converges in place.
      reloadIfChanged = true;
      path = toolPath;
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${exe} host setup";
        ExecReload = "${exe} host setup";
      };
    };
    # As contrib/systemd/nixcloud-container-autostart.service: autostart
    # at boot, every running container stopped cleanly at shutdown.
    systemd.services.nixcloud-container = {
      description = "nixcloud-container containers marked autostart";
      requires = [ "nixcloud-container-host.service" ];
      after = [ "nixcloud-container-host.service" "remote-fs.target" ];
      wantedBy = [ "multi-user.target" ];
      path = toolPath;
      restartIfChanged = false; # a restart would stop every container
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        Delegate = true;
        # The containers it starts live in this unit's cgroup (LXC makes
        # lxc.monitor.NAME and lxc.payload.NAME below it): when autostart
        # exits 1 for one container that failed, the default KillMode
        # (control-group) would kill every other one. ExecStop stops them.
        KillMode = "process";
        # Exit 1 (some container failed; the journal names it) keeps the
        # unit active, so that ExecStop still stops the others at shutdown.
        SuccessExitStatus = "1";
        ExecStart = "${exe} autostart";
        ExecStop = "${pkgs.runtimeShell} -c '${exe} list | { while read -r name state rest; do [ \"$$state\" = STATE ] || [ \"$$state\" = STOPPED ] || ${exe} stop \"$$name\" --timeout 30s & done; wait; }'";
        TimeoutStartSec = "infinity";
        TimeoutStopSec = "90s";
      };
    };
    # Activation: the SPEC changed, so switch-to-configuration restarts
    # this unit, and apply converges the declared containers.
    systemd.services.nixcloud-container-apply = {
      description = "nixcloud-container apply: converge the declared containers";
      requires = [ "nixcloud-container.service" ];
      after = [ "nixcloud-container.service" ];
      wantedBy = [ "multi-user.target" ];
      path = toolPath;
      restartTriggers = [ specFile hostToml ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        Delegate = true;
        # The containers apply creates or restarts live in this unit's
        # cgroup, and activation restarts the unit whenever the SPEC
        # changes: with the default KillMode (control-group) that restart,
        # or a failed apply, would kill them all. Only apply itself is
        # this unit's; the containers are stopped by nixcloud-container.
        KillMode = "process";
        ExecStart = "${exe} apply ${lib.optionalString cfg.prune "--prune "}/etc/nixcloud-container/spec.nix";
        TimeoutStartSec = "infinity";
      };
    };
  };
}
