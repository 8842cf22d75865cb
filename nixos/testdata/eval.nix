# A miniature NixOS module system for module_test.go: evaluates
# ../module.nix's options (defaults, types, submodules, attrsOf/listOf of
# submodules, readOnly, undeclared options are errors) against a host
# configuration, and its `config` with mkIf/mkMerge/mkDefault resolved.
# pkgs is a stand-in whose eval-config.nix is guest-patches' stub (it
# records what the wrapper gave it). No nixpkgs needed.
{ configuration }:   # the host's definitions: { nixcloud.container = { ... }; }
let
  b = builtins;
  stubNixpkgs = ../../guest-patches/testdata/stub-nixpkgs;

  mkType = name: check: extra: { _type = "option-type"; inherit name check; } // extra;
  types = rec {
    str = mkType "str" b.isString { };
    int = mkType "int" b.isInt { };
    number = mkType "number" (v: b.isInt v || b.isFloat v) { };
    port = mkType "port" (v: b.isInt v && v >= 0 && v <= 65535) { };
    bool = mkType "bool" b.isBool { };
    package = mkType "package" (v: b.isString v || b.isPath v || (b.isAttrs v && v ? outPath)) { };
    attrs = mkType "attrs" b.isAttrs { };
    unspecified = mkType "unspecified" (_: true) { };
    ints.positive = mkType "positive int" (v: b.isInt v && v > 0) { };
    enum = vs: mkType "enum" (v: b.elem v vs) { };
    nullOr = t: mkType "nullOr ${t.name}" (v: v == null || t.check v) { elem = t; };
    listOf = t: mkType "listOf ${t.name}" b.isList { elem = t; };
    attrsOf = t: mkType "attrsOf ${t.name}" b.isAttrs { elem = t; };
    submodule = m: mkType "submodule" b.isAttrs { module = m; };
  };
  lib = {
    inherit types;
    mkOption = attrs: attrs // { _type = "option"; };
    mkEnableOption = what: { _type = "option"; type = types.bool; default = false; description = "Whether to enable ${what}."; };
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkMerge = contents: { _type = "merge"; inherit contents; };
    mkDefault = content: { _type = "override"; priority = 1000; inherit content; };
    mkOverride = priority: content: { _type = "override"; inherit priority content; };
    optional = c: x: if c then [ x ] else [ ];
    optionalAttrs = c: x: if c then x else { };
    optionalString = c: s: if c then s else "";
    concatStringsSep = b.concatStringsSep;
  };
  fake = name: "/stub-pkgs/${name}";
  pkgs = {
    path = stubNixpkgs;
    stdenv.hostPlatform.system = "x86_64-linux";
    runtimeShell = fake "bash/bin/sh";
    formats.toml = { }: { type = types.attrs; generate = name: value: fake "toml/${name}"; };
    writeText = name: text: fake "text/${name}";
    callPackage = _: _: throw "the test sets nixcloud.container.package";
  } // b.listToAttrs (map (n: { name = n; value = fake n; })
    [ "lxc" "dnsmasq" "iptables" "nftables" "iproute2" "shadow" "coreutils" ]);

  isOption = v: b.isAttrs v && (v._type or null) == "option";
  isTagged = v: b.isAttrs v && v ? _type;

  # Option values: definitions over defaults, typed, recursively.
  evalOpts = path: decls: defs:
    let unknown = b.filter (n: !(decls ? ${n})) (b.attrNames defs); in
    if unknown != [ ] then throw "eval.nix: undeclared option ${b.concatStringsSep "." (path ++ [ (b.head unknown) ])}"
    else b.mapAttrs
      (n: d:
        let p = path ++ [ n ]; in
        if isOption d then evalOption p d defs
        else evalOpts p d (defs.${n} or { }))
      decls;
  evalOption = path: d: defs:
    let
      n = b.elemAt path (b.length path - 1);
      name = b.concatStringsSep "." path;
      v =
        if defs ? ${n} && (d.readOnly or false) then throw "eval.nix: ${name} is read-only"
        else if defs ? ${n} then defs.${n}
        else if d ? default then d.default
        else throw "eval.nix: ${name} is used but not defined";
    in
    if d ? type then applyType name d.type v else v;
  applyType = name: t: v:
    if !(t.check v) then throw "eval.nix: ${name} is not of type ${t.name}"
    else if t ? module then evalSubmodule name t.module v
    else if t ? elem && v == null then null
    else if t ? elem && b.substring 0 6 t.name == "nullOr" then applyType name t.elem v
    else if t ? elem && b.isList v then b.genList (i: applyType "${name}.${toString i}" t.elem (b.elemAt v i)) (b.length v)
    else if t ? elem && b.isAttrs v && b.substring 0 7 t.name == "attrsOf" then b.mapAttrs (k: x: applyType "${name}.${k}" t.elem x) v
    else if t ? elem then applyType name t.elem v
    else v;
  evalSubmodule = name: m: v:
    let
      last = b.elemAt (b.filter b.isString (b.split "[.]" name)) (b.length (b.filter b.isString (b.split "[.]" name)) - 1);
      mod = if b.isFunction m then m { name = last; config = result; inherit lib; } else m;
      result = evalOpts [ name ] mod.options v;
    in
    result;

  # mkIf / mkMerge / mkDefault pushed down to a plain attribute set.
  resolve = v:
    if isTagged v && v._type == "if" then (if v.condition then resolve v.content else null)
    else if isTagged v && v._type == "merge" then b.foldl' merge { } (map resolve v.contents)
    else if isTagged v && v._type == "override" then resolve v.content
    else if b.isAttrs v && !(v ? outPath) then b.mapAttrs (_: resolve) v
    else v;
  merge = a: c:
    if c == null then a
    else if b.isAttrs a && b.isAttrs c then a // b.mapAttrs (n: x: if a ? ${n} then merge a.${n} x else x) c
    else if b.isList a && b.isList c then a ++ c
    else c;

  module = import ../module.nix { inherit config lib pkgs; };
  # users and networking are NixOS' options: passed through as given.
  config = (evalOpts [ ] module.options (b.removeAttrs configuration [ "nix" "users" "networking" ])) // {
    nix.package = fake "nix";
    users = configuration.users or { };
    networking = configuration.networking or { };
  };

  # The priority of the module's definition at a path (100 for a plain
  # one, mkDefault 1000), with mkIf and mkMerge resolved; null if none.
  priority = v: path:
    if isTagged v && v._type == "if" then (if v.condition then priority v.content path else null)
    else if isTagged v && v._type == "merge" then b.foldl' (a: c: if c == null then a else c) null (map (x: priority x path) v.contents)
    else if isTagged v && v._type == "override" && path == [ ] then v.priority
    else if isTagged v && v._type == "override" then priority v.content path
    else if path == [ ] then 100
    else if b.isAttrs v && v ? ${b.head path} then priority v.${b.head path} (b.tail path)
    else null;
in
{
  options = config;
  config = resolve module.config;
  priorities = b.mapAttrs (_: p: priority module.config (b.filter b.isString (b.split "/" p)))
    {
      flushRuleset = "networking/nftables/flushRuleset";
      ipForward = "boot/kernel/sysctl/net.ipv4.ip_forward";
      ipv6Forwarding = "boot/kernel/sysctl/net.ipv6.conf.all.forwarding";
      acceptRA = "boot/kernel/sysctl/net.ipv6.conf.eth1.accept_ra";
    };
}
