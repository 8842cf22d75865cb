# Guest-side NixOS module that every NixOS container built by
# nixcloud-container imports: what a NixOS system needs to boot well as an
# unprivileged LXC container sharing the host's /nix/store.
{ config, lib, ... }:
let
  cfg = config.nixcloudContainer;
in
{
  options.nixcloudContainer = {
    name = lib.mkOption { type = lib.types.str; description = "Container name."; };
    ip = lib.mkOption { type = lib.types.str; default = ""; description = "IPv4 address on the hostonly interface."; };
    prefixLength = lib.mkOption { type = lib.types.int; default = 16; };
    gateway = lib.mkOption { type = lib.types.str; default = ""; description = "Address of the hostonly bridge."; };
    enableNat = lib.mkOption { type = lib.types.bool; default = false; };
  };

  config = {
    boot.isContainer = true;
    networking.hostName = lib.mkDefault cfg.name;

    # LXC sets up the interfaces' addresses itself; the guest only makes
    # sure nothing else fights over them.
    networking.useDHCP = false;
    networking.interfaces.hostonly.ipv4.addresses = lib.optional (cfg.ip != "") {
      address = cfg.ip;
      prefixLength = cfg.prefixLength;
    };
    networking.interfaces.internet.useDHCP = cfg.enableNat;
    # The lease is keyed by the interface's MAC (fixed by the host).
    networking.dhcpcd.extraConfig = lib.mkIf cfg.enableNat ''
      clientid
    '';

    # The store is the host's, read-only: the guest has no Nix database of
    # its own and must not try to manage the store.
    nix.enable = lib.mkDefault false;
    # Unprivileged LXC: no kernel modules, no hardware clock, no console gettys.
    systemd.suppressedSystemUnits = [
      "sys-kernel-debug.mount"
      "sys-kernel-tracing.mount"
      "sys-fs-fuse-connections.mount"
      "dev-hugepages.mount"
      "systemd-modules-load.service"
    ];
    services.getty.autologinUser = lib.mkDefault "root";
  };
}
