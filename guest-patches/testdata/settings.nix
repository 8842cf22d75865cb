# A container file of the second shape: host-side settings + configuration.
{
  autostart = true;
  autostartPriority = 10;
  autostartDelay = 2.5;
  ephemeral = false;
  network = { bridge = "brNC-hostonly"; ip = "10.101.0.50"; enableNat = true; };
  bindMounts."/var/www" = { hostPath = "/srv/www"; isReadOnly = true; };
  forwardPorts = [ { protocol = "tcp"; hostPort = 8080; containerPort = 80; } ];
  limits = { memory = "512M"; cpus = 1.5; processes = 1024; };
  extraLxcConfig = [ "lxc.cap.drop = sys_time" ];
  configuration = { config, ip, name, ... }: {
    environment.etc."nixcloud-probe".text = "${name} ${ip}";
    # guest.nix only defaults Nix off: a container may turn it back on.
    nix.enable = true;
    networking.useNetworkd = true;
  };
}
