# A prebuilt guest system instead of a NixOS configuration.
{
  autostart = true;
  network.ip = "10.101.0.60";
  limits.processes = 100;
  system = import ./fake-system.nix;
}
