# A container file whose configuration turns on systemd in the initrd (as a
# shared module written for VMs might): guest.nix must force it off.
{ name, ip, ... }:
{
  boot.initrd.systemd.enable = true;
  environment.etc."nixcloud-probe".text = "${name} ${ip}";
}
