# Stand-in for nixpkgs' nixos/lib/eval-config.nix, for the wrapper tests:
# it accepts exactly the arguments the real one accepts, records what it was
# given, and runs a miniature module system over the modules:
#   - modules are paths or functions or attribute sets, with `imports`;
#     functions get config, options, lib, pkgs, modulesPath, specialArgs and
#     `_module.args` (lazily, as the real one);
#   - `options` declarations (mkOption with default/type) and `config`
#     definitions with mkIf / mkMerge / mkOverride (mkDefault, mkForce, ...)
#     are merged by priority; lists concatenate, strings of undeclared
#     options join with newlines (as `lines`), other conflicts throw;
#   - declared options are type-checked (str, int, bool, ...).
# Unlike the real one it keeps an attribute whose definitions are all under a
# false mkIf (reading it throws "used but not defined"); `_stub.isDefined`
# tells whether a path has an active definition.
{ modules ? [ ]
, system ? builtins.currentSystem
, pkgs ? null
, baseModules ? [ ]
, extraArgs ? { }
, specialArgs ? { }
, modulesLocation ? null
, check ? true
, prefix ? [ ]
, lib ? import ../../lib
, extraModules ? [ ]
}@args:
let
  b = builtins;

  thePkgs = if pkgs != null then pkgs else import ../.. { inherit system; };

  isOption = v: b.isAttrs v && (v._type or null) == "option";
  isTagged = v: b.isAttrs v && v ? _type;
  isDerivation = v: b.isAttrs v && (v.type or null) == "derivation";
  isTree = v: b.isAttrs v && !(v ? _type) && !(isDerivation v) && !(v ? outPath);
  showPath = path: if path == [ ] then "<config>" else b.concatStringsSep "." path;
  unique = xs: b.attrNames (b.listToAttrs (map (n: { name = n; value = null; }) xs));

  # A guest system stand-in, so `nix-build -A generation` works on
  # `configuration` files too: builtin:buildenv over ../../../fake-system.
  # As top-level.nix, whose $out/init is systemd itself (not stage-2) with
  # systemd in the initrd: refuse, since a container must never boot that.
  toplevel = config: if config.boot.initrd.systemd.enable
    then throw "stub top-level.nix: boot.initrd.systemd.enable is set, the toplevel's init would be systemd itself"
    else derivation {
    name = "nixos-system-${config.networking.hostName}-stub";
    system = "builtin";
    builder = "builtin:buildenv";
    manifest = b.toFile "stub-toplevel-manifest" "stub";
    derivations = [ "true" 5 1 (b.path { path = ../../../fake-system; name = "fake-system-src"; }) ];
    preferLocalBuild = true;
    allowSubstitutes = false;
  };

  # Stand-ins for the NixOS options that guest.nix and the tests read, with
  # the real defaults, and the one boot.isContainer default that guest.nix
  # must beat (nixos/modules/virtualisation/container-config.nix).
  baseModule = { config, lib, ... }: {
    options = {
      boot.isContainer = lib.mkOption { type = lib.types.bool; default = false; };
      boot.initrd.systemd.enable = lib.mkOption { type = lib.types.bool; default = false; };
      console.enable = lib.mkOption { type = lib.types.bool; default = true; };
      networking.hostName = lib.mkOption { type = lib.types.str; default = "nixos"; };
      networking.useDHCP = lib.mkOption { type = lib.types.bool; default = true; };
      networking.useNetworkd = lib.mkOption { type = lib.types.bool; default = false; };
      networking.useHostResolvConf = lib.mkOption { type = lib.types.bool; default = false; };
      networking.enableIPv6 = lib.mkOption { type = lib.types.bool; default = true; };
      networking.dhcpcd.wait = lib.mkOption { type = lib.types.enum [ "background" "any" "ipv4" "ipv6" "both" "if-carrier-up" ]; default = "any"; };
      networking.dhcpcd.extraConfig = lib.mkOption { type = lib.types.lines; default = ""; };
      nix.enable = lib.mkOption { type = lib.types.bool; default = true; };
      services.getty.autologinUser = lib.mkOption { type = lib.types.nullOr lib.types.str; default = null; };
      systemd.package = lib.mkOption { type = lib.types.package; default = thePkgs.systemd; };
      system.stateVersion = lib.mkOption { type = lib.types.str; default = "stub"; };
      system.build.toplevel = lib.mkOption { type = lib.types.package; };
    };
    config = {
      networking.useHostResolvConf = lib.mkIf config.boot.isContainer (lib.mkDefault true);
      # container-config.nix since 25.05 (NixOS/nixpkgs#363533).
      console.enable = lib.mkIf config.boot.isContainer (lib.mkDefault false);
      system.build.toplevel = toplevel config;
    };
  };

  argFor = n:
    if n == "config" then config
    else if n == "options" then decls
    else if n == "lib" then lib
    else if n == "pkgs" then thePkgs
    else if n == "modulesPath" then toString ../modules
    else if specialArgs ? ${n} then specialArgs.${n}
    else if extraArgs ? ${n} then extraArgs.${n}
    else config._module.args.${n} or (throw "stub eval-config: no module argument '${n}'");

  # Every module, following imports, called with its arguments.
  collect = m:
    let
      isFile = b.isPath m || b.isString m;
      file = if isFile then toString m else "<inline module>";
      f = if isFile then import m else m;
      v = if b.isFunction f then f (b.mapAttrs (n: _: argFor n) (b.functionArgs f)) else f;
    in
    if !(b.isAttrs v) then throw "stub eval-config: module ${file} is not an attribute set"
    else [ { inherit file; value = v; } ] ++ b.concatMap collect (v.imports or [ ]);

  collected = b.concatMap collect ([ baseModule ] ++ baseModules ++ modules ++ extraModules);

  parts = map
    (c:
      let
        v = c.value;
        shorthand = b.removeAttrs v [ "_file" "key" "imports" "disabledModules" "meta" "freeformType" ];
      in
      if v ? options || v ? config
      then { inherit (c) file; options = v.options or { }; config = v.config or { }; }
      else { inherit (c) file; options = { }; config = shorthand; })
    collected;

  # Option declarations of all modules, as one tree.
  mergeDecls = a: c: a // b.mapAttrs
    (n: v: if a ? ${n} && !(isOption a.${n}) && !(isOption v) then mergeDecls a.${n} v else v)
    c;
  decls = b.foldl' mergeDecls { } (map (p: p.options) parts);

  # A definition: its value with mkMerge/mkIf/mkOverride taken off, the
  # conditions above it, its priority (100 unless overridden) and its file.
  norm = ctx: v:
    if isTagged v && v._type == "merge" then b.concatMap (norm ctx) v.contents
    else if isTagged v && v._type == "if" then norm (ctx // { conds = ctx.conds ++ [ v.condition ]; }) v.content
    else if isTagged v && v._type == "override" then norm (ctx // { prio = v.priority; }) v.content
    else [ (ctx // { value = v; }) ];

  topDefs = b.concatMap (p: norm { conds = [ ]; prio = 100; inherit (p) file; } p.config) parts;

  isActive = d: b.all
    (c: if b.isBool c then c else throw "stub eval-config: a mkIf condition in ${d.file} is not a boolean")
    d.conds;

  childDefs = defs: n: b.concatMap
    (d: if isTree d.value && d.value ? ${n} then norm { inherit (d) conds prio file; } d.value.${n} else [ ])
    defs;

  evalNode = path: defs: decl:
    if isOption decl then evalLeaf path defs decl
    else if b.all (d: isTree d.value) defs && (defs != [ ] || decl != null) then evalTree path defs decl
    else evalLeaf path defs null;

  evalTree = path: defs: decl:
    let
      names = unique ((if decl != null then b.attrNames decl else [ ])
        ++ b.concatMap (d: b.attrNames d.value) defs);
    in
    b.listToAttrs (map
      (n: {
        name = n;
        value = evalNode (path ++ [ n ]) (childDefs defs n) (if decl != null then decl.${n} or null else null);
      })
      names);

  evalLeaf = path: defs: decl:
    let
      typeName = if decl != null && decl ? type then decl.type.name else "";
      default = if decl != null && decl ? default then [ { prio = 1500; value = decl.default; file = "<default>"; conds = [ ]; } ] else [ ];
      candidates = b.filter isActive defs ++ default;
      best = b.foldl' (m: d: if d.prio < m then d.prio else m) 99999 candidates;
      values = map (d: d.value) (b.filter (d: d.prio == best) candidates);
      allEqual = b.all (v: v == b.head values) values;
      conflict = throw "stub eval-config: conflicting definitions for ${showPath path} in ${b.concatStringsSep ", " (map (d: d.file) (b.filter (d: d.prio == best) candidates))}";
      merged =
        if values == [ ] then throw "stub eval-config: ${showPath path} is used but not defined"
        else if b.length values == 1 then b.head values
        else if b.all b.isList values then b.concatLists values
        else if b.elem typeName [ "str" "int" "bool" ] then (if allEqual then b.head values else conflict)
        # _module.args.<n> is `raw` in the real module system: one value.
        else if b.length path == 3 && b.head path == "_module" && b.elemAt path 1 == "args" then
          (if allEqual then b.head values else throw "stub eval-config: The option `${showPath path}' is defined multiple times")
        else if b.all b.isString values then (if allEqual then b.head values else b.concatStringsSep "\n" values)
        else if b.all isTree values then b.foldl' (a: v: a // v) { } values
        else if allEqual then b.head values
        else conflict;
    in
    if decl != null && decl ? type && !(decl.type.check merged)
    then throw "stub eval-config: ${showPath path} is not of type ${typeName}"
    else merged;

  config = evalNode [ ] topDefs decls;

  defsAt = path: b.foldl' childDefs topDefs path;
in
{
  inherit config;
  options = decls;
  pkgs = thePkgs;
  # As lib.evalModules' extendModules (used by specialisation and
  # virtualisation.vmVariant): the same modules and specialArgs, more modules.
  extendModules = { modules ? [ ], specialArgs ? { } }:
    import ./eval-config.nix (args // {
      modules = (args.modules or [ ]) ++ modules;
      specialArgs = (args.specialArgs or { }) // specialArgs;
    });
  _stub = {
    inherit modules specialArgs;
    argNames = b.attrNames args;
    files = map (c: c.file) collected;
    # Whether some definition of `path` is active (not under a false mkIf).
    isDefined = path: b.any isActive (defsAt path);
  };
}
