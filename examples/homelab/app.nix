# An app behind the proxy (Immich's or Vaultwarden's place): the proxy may
# connect to its port 8080, it may connect to sso (sso.nix allows it) and to
# db (db.nix allows it), and reaches both by name: `http://sso:9091`,
# `db:5432`. The proxy cannot reach db, db cannot reach anyone.
{
  network.allowFrom = [ { container = "proxy"; ports = [ "tcp/8080" ]; } ];
  configuration = { pkgs, ... }: {
    systemd.services.app = {
      wantedBy = [ "multi-user.target" ];
      script = "exec ${pkgs.python3}/bin/python3 -m http.server 8080";
    };
    networking.firewall.allowedTCPPorts = [ 8080 ];
    system.stateVersion = "24.11";
  };
}
