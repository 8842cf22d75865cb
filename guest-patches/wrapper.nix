# The Nix wrapper of nixcloud-container: turns a container file into the
# host-side settings (for `nix-instantiate --eval --json -A settings`) and a
# generation (for `nix-build -A generation`). A generation is one store path
# holding the guest system (its entries, `init` first of all) and
# `manifest.nix`, a link to the host-side settings of this build as JSON.
{ file ? null           # absolute path of the container file
, container ? null      # or its value (the NixOS host module passes it)
, name                  # container name
, ip ? ""               # the container's hostonly IPv4 address
, prefixLength ? 16     # prefix length of the hostonly network
, gateway ? ""          # hostonly bridge address (no default route through it)
, enableNat ? false     # the container has a second interface `internet`
, guestModule ? ./guest.nix
  # NixOS' eval-config.nix; the NixOS host module passes the host's own.
, evalConfig ? import <nixpkgs/nixos/lib/eval-config.nix>
}:
let
  raw = if container != null then container else import file;
  where = if file != null then "container file ${toString file}" else "container ${name}";
  hostKeys = [
    "autostart" "autostartPriority" "autostartDelay" "ephemeral" "network"
    "bindMounts" "forwardPorts" "limits" "extraLxcConfig" "haltSignal"
    "store"
  ];
  # A prebuilt system is a derivation or a store path; `system` as an
  # attribute set without outPath is NixOS's option tree
  # (`system.stateVersion = …;` in a bare module), not the settings shape.
  isSystem = v: builtins.isString v || builtins.isPath v || (builtins.isAttrs v && v ? outPath);
  isSettings = builtins.isAttrs raw && (raw ? configuration
    || builtins.any (k: raw ? ${k}) hostKeys
    || (raw ? system && isSystem raw.system));
  cfg = if isSettings then raw else { configuration = raw; };

  known = hostKeys ++ [ "configuration" "system" ];
  unknown = builtins.filter (k: !(builtins.elem k known)) (builtins.attrNames cfg);

  checked =
    if unknown != [ ] then
      throw "${where}: unknown key '${builtins.head unknown}' (known keys: ${builtins.concatStringsSep ", " known})"
    else if cfg ? configuration && cfg ? system then
      throw "${where}: set either 'configuration' or 'system', not both"
    else if !(cfg ? configuration || cfg ? system) then
      throw "${where}: set 'configuration' (a NixOS module) or 'system' (a prebuilt system)"
    else cfg;

  settings = builtins.removeAttrs checked [ "configuration" "system" ];

  # `name` and `ip` reach the container's modules as specialArgs, not
  # `_module.args`: every submodule evaluation (specialisation.<x>,
  # virtualisation.vmVariant, anything of types.submodule that inherits these
  # modules) defines `_module.args.name` itself, and two definitions of it
  # are an error as soon as a module reads `name`; specialArgs also work in
  # `imports`, which `_module.args` cannot.
  nixos = evalConfig {
    specialArgs = { inherit name ip; };
    modules = [
      guestModule
      { nixcloudContainer = { inherit name ip prefixLength gateway enableNat; }; }
      checked.configuration
    ];
  };

  system =
    if checked ? system then
      (if isSystem checked.system
       then checked.system
       else throw "${where}: 'system' must be a derivation or a store path")
    else nixos.config.system.build.toplevel;

  generation = derivation {
    name = "nixcloud-container-${name}";
    system = "builtin";
    builder = "builtin:buildenv";
    manifest = builtins.toFile "nixcloud-container-settings.json" (builtins.toJSON settings);
    derivations = [ "true" 5 1 system ];
    preferLocalBuild = true;
    allowSubstitutes = false;
  };
  # One evaluation for create and update (`nix-instantiate --eval --strict
  # --json --read-write-mode -A evaluation`): the settings and, when they
  # are known here, the generation's derivation and output paths, built
  # afterwards without evaluating again. The generation depends on ip,
  # prefixLength, gateway and enableNat only through a NixOS configuration;
  # for one, a caller that does not know the address yet (create) gets
  # none and builds with `-A generation` once it does.
  networkIndependent = checked ? system;
  evaluation = {
    inherit settings networkIndependent;
    generation =
      if networkIndependent || ip != "" then { drv = generation.drvPath; out = generation.outPath; } else null;
  };
in
{
  inherit settings generation system nixos evaluation;
}
