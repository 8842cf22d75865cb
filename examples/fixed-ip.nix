# A NixOS container with a fixed hostonly address instead of one from the
# pool. The address must lie in the hostonly bridge's subnet (default
# 10.101.0.0/16) and be free; the module argument `ip` carries it. It also
# starts when the host boots (`nixcloud-container autostart`).
#
#   nixcloud-container create fixed examples/fixed-ip.nix --start
#   nixcloud-container show-ip fixed                       # 10.101.0.50
#   nixcloud-container run fixed -- cat /etc/container-address
#
# Needs nixpkgs (-n "-I nixpkgs=…", `nixpkgs` in host.toml, or NIX_PATH).
{
  autostart = true;
  network.ip = "10.101.0.50";

  configuration = { name, ip, ... }: {
    environment.etc."container-address".text = "${name} ${ip}\n";
    system.stateVersion = "24.11";
  };
}
