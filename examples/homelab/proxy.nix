# The homelab's reverse proxy: the one container the outside reaches (port
# forwards 80 and 443), routing by name to app and sso. It opens nothing to
# other containers; app and sso each allow it in (network.allowFrom), and
# their names resolve here through /etc/hosts, which the tool keeps.
#
#   for c in db sso app proxy; do nixcloud-container create $c examples/homelab/$c.nix --start; done
#   nixcloud-container list --json    # each container's links
{
  network.enableNat = true;
  forwardPorts = [
    { protocol = "tcp"; hostPort = 80; containerPort = 80; }
    { protocol = "tcp"; hostPort = 443; containerPort = 443; }
  ];
  configuration = { ... }: {
    services.nginx = {
      enable = true;
      recommendedProxySettings = true;
      virtualHosts."app.home.example".locations."/".proxyPass = "http://app:8080";
      virtualHosts."sso.home.example".locations."/".proxyPass = "http://sso:9091";
    };
    networking.firewall.allowedTCPPorts = [ 80 443 ];
    system.stateVersion = "24.11";
  };
}
