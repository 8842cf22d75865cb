# A fleet of hosts with declared containers, deployed with colmena
# (https://colmena.cli.rs): `colmena apply` builds every host's system,
# declared guests included, copies it and activates it; on each host the
# activation runs `nixcloud-container apply`, so each host converges its own
# containers (creates, updates with a new generation, stops dropped ones)
# and keeps their generations: `nixcloud-container rollback web` on one
# host rolls back that container there, until the next change to it.
#
#   colmena apply --on @web          # or deploy-rs / nixos-anywhere alike
#
# NIXCLOUD is this repository (a checkout, or fetchGit of it).
let
  nixcloud = ../..;

  # The same container on every web host; its address is derived from the
  # name (nixcloud.container.containers.web.address), so it is the same on
  # every host too.
  web = {
    config = { pkgs, name, ip, ... }: {
      services.nginx.enable = true;
      services.nginx.virtualHosts.${name}.root = pkgs.writeTextDir "index.html" "web on ${ip}\n";
      networking.firewall.allowedTCPPorts = [ 80 ];
      system.stateVersion = "24.11";
    };
    autoStart = true;
    forwardPorts = [ { hostPort = 80; containerPort = 80; } ];
  };

  host = { name, ... }: {
    imports = [ "${nixcloud}/nixos/module.nix" ./hardware.nix ];
    deployment.tags = [ "web" ];
    deployment.targetHost = "${name}.example.org";
    nixcloud.container = {
      enable = true;
      internetInterface = "eth0";
      containers.web = web;
    };
  };
in
{
  meta.nixpkgs = import <nixpkgs> { };

  web1 = host;
  web2 = host;

  # One host with an extra container and IPv6 for its guests.
  db1 = { name, ... }: {
    imports = [ (host { inherit name; }) ];
    deployment.tags = [ "db" ];
    nixcloud.container = {
      ipv6 = {
        enable = true;
        ipv6Prefix = "2001:db8:42::";
        ipv6PrefixLength = 64;
        ipv6InternetInterfaceAddress = "2001:db8:42::1";
      };
      containers.db = {
        config = { ... }: {
          services.postgresql.enable = true;
          system.stateVersion = "24.11";
        };
        autoStart = true;
        network.enableNat = true;
        bindMounts."/var/lib/postgresql" = { hostPath = "/srv/postgresql"; isReadOnly = false; };
        limits = { memory = "2G"; cpus = 2; };
      };
    };
  };
}
