# The offline example container: a busybox guest, no nixpkgs needed.
#   nixcloud-container create bb examples/busybox/container.nix --start
#   nixcloud-container run bb -- cat /run/marker
{
  system = import ./system.nix { };
}
