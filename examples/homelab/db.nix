# The app's database: only app may connect, to PostgreSQL's port.
{
  network.allowFrom = [ { container = "app"; ports = [ "tcp/5432" ]; } ];
  configuration = { ... }: {
    services.postgresql = {
      enable = true;
      enableTCPIP = true;
      authentication = "host all all 10.101.0.0/16 scram-sha-256";
    };
    networking.firewall.allowedTCPPorts = [ 5432 ];
    system.stateVersion = "24.11";
  };
}
