# n small store paths for a synthetic closure, built offline (Nix's
# builtin:buildenv, no builder process, no nixpkgs): each is an empty
# environment of its own name. The store-view benchmark and test give them
# to the busybox system as extraPaths:
#   system = import ./system.nix { extraPaths = import ./many-paths.nix { n = 1000; }; };
{ n ? 1000, tag ? "synthetic" }:
let
  mk = i: derivation {
    name = "ncc-${tag}-${toString i}";
    system = "builtin";
    builder = "builtin:buildenv";
    manifest = builtins.toFile "ncc-empty-manifest" "";
    derivations = [ ];
    preferLocalBuild = true;
    allowSubstitutes = false;
  };
in
builtins.genList mk n
