# A NixOS container with outbound Internet access: a second interface
# `internet` on brNC-internet with a fixed DHCP lease (keyed by its MAC),
# default route and DNS through the host, NAT to the host's uplink, and IPv6
# from router advertisements when host.toml sets an [internet.ipv6] prefix.
# Without `network.enableNat` a container only reaches the host (hostonly).
#
#   nixcloud-container create outbound examples/nat.nix --start
#   nixcloud-container run outbound -- curl -sSI https://nixos.org
#
# Needs nixpkgs (-n "-I nixpkgs=…", `nixpkgs` in host.toml, or NIX_PATH).
{
  network.enableNat = true;

  configuration = { pkgs, ... }: {
    environment.systemPackages = [ pkgs.curl ];
    system.stateVersion = "24.11";
  };
}
