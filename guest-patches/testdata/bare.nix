# A container file of the first shape: a bare NixOS module.
{ config, lib, pkgs, ip, name, ... }:
{
  environment.etc."nixcloud-probe".text = "${name} ${ip}";
}
