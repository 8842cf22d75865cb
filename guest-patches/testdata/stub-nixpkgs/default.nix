# Stand-in for `import <nixpkgs> { }`: no real packages, only names that
# evaluate to strings, so NixOS-shaped modules can be evaluated without
# nixpkgs. Test data for guest-patches' Go tests.
{ system ? builtins.currentSystem, config ? { }, overlays ? [ ], ... }:
let
  lib = import ./lib;
  fake = name: "/stub-pkgs/${name}";
in
{
  inherit lib system;
  path = ./.;
  stdenv.hostPlatform.system = system;
  runtimeShell = fake "bash/bin/sh";

  # A package with a version, as guest.nix reads it (STUB_SYSTEMD_VERSION:
  # 255.x in 24.05, 256.x in 24.11, 257.x in 25.05, 258.x in 25.11).
  systemd = {
    outPath = fake "systemd";
    version = let v = builtins.getEnv "STUB_SYSTEMD_VERSION"; in if v == "" then "257.9" else v;
  };
  coreutils = fake "coreutils";
  busybox = fake "busybox";
  curl = fake "curl";
  hello = fake "hello";
  nginx = fake "nginx";

  writeText = name: text: fake name;
  writeTextFile = { name, text, destination ? "", executable ? false, ... }: fake "${name}${destination}";
  writeTextDir = path: text: fake "text-dir/${path}";
  writeScript = name: text: fake name;
  writeShellScript = name: text: fake name;
  runCommand = name: env: script: fake name;
}
# nixpkgs >= 23.11 has distrobuilder.generator; the tests switch it on to
# see guest.nix pick it.
// (if builtins.getEnv "STUB_NIXPKGS_DISTROBUILDER" == "1"
    then { distrobuilder = { generator = "/stub-pkgs/distrobuilder-generator"; }; }
    else { })
