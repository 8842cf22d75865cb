# The single sign-on provider (Authelia's port): the proxy routes users to
# it and app calls it back to check their sessions. Nothing else reaches it.
{
  network.allowFrom = [
    { container = "proxy"; ports = [ "tcp/9091" ]; }
    { container = "app"; ports = [ "tcp/9091" ]; }
  ];
  configuration = { pkgs, ... }: {
    # Stands in for Authelia: anything that listens on 9091.
    systemd.services.sso = {
      wantedBy = [ "multi-user.target" ];
      script = "exec ${pkgs.python3}/bin/python3 -m http.server 9091";
    };
    networking.firewall.allowedTCPPorts = [ 9091 ];
    system.stateVersion = "24.11";
  };
}
