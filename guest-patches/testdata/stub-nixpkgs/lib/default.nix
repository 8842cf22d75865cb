# A tiny stand-in for nixpkgs' lib: just what guest.nix, the examples and
# the test container files use, with the same shapes as the real one
# (mkIf/mkMerge/mkOverride leave tagged values that the stub evaluator in
# ../nixos/lib/eval-config.nix discharges). Test data only.
let
  b = builtins;

  mkType = name: check: { _type = "option-type"; inherit name check; };
in
rec {
  inherit (b)
    attrNames attrValues concatLists concatStringsSep elem elemAt filter
    foldl' hasAttr head isAttrs isBool isFunction isInt isList isString
    length listToAttrs map mapAttrs removeAttrs tail toJSON;

  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption = what: mkOption {
    type = types.bool;
    default = false;
    description = "Whether to enable ${what}.";
  };

  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkMerge = contents: { _type = "merge"; inherit contents; };
  mkOverride = priority: content: { _type = "override"; inherit priority content; };
  mkOptionDefault = mkOverride 1500;
  mkDefault = mkOverride 1000;
  mkForce = mkOverride 50;
  mkVMOverride = mkOverride 10;
  # Ordering is not modelled.
  mkBefore = x: x;
  mkAfter = x: x;
  mkOrder = _: x: x;

  optional = cond: x: if cond then [ x ] else [ ];
  optionals = cond: xs: if cond then xs else [ ];
  optionalString = cond: s: if cond then s else "";
  optionalAttrs = cond: as: if cond then as else { };
  concatMap = f: xs: b.concatLists (b.map f xs);
  concatMapStringsSep = sep: f: xs: b.concatStringsSep sep (b.map f xs);
  mapAttrsToList = f: as: b.map (n: f n as.${n}) (b.attrNames as);
  nameValuePair = name: value: { inherit name value; };
  genAttrs = names: f: b.listToAttrs (b.map (n: nameValuePair n (f n)) names);
  versionAtLeast = v1: v2: b.compareVersions v1 v2 >= 0;
  id = x: x;
  const = x: _: x;
  fakeHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

  trivial = { release = "stub"; version = "stub"; };
  version = "stub";

  types = rec {
    str = mkType "str" b.isString;
    lines = mkType "lines" b.isString;
    int = mkType "int" b.isInt;
    port = mkType "port" (v: b.isInt v && v >= 0 && v <= 65535);
    bool = mkType "bool" b.isBool;
    path = mkType "path" (v: b.isPath v || b.isString v || (b.isAttrs v && v ? outPath));
    package = path;
    attrs = mkType "attrs" b.isAttrs;
    anything = mkType "anything" (_: true);
    raw = anything;
    unspecified = anything;
    listOf = t: mkType "listOf ${t.name}" (v: b.isList v && b.all t.check v);
    attrsOf = t: mkType "attrsOf ${t.name}" b.isAttrs;
    lazyAttrsOf = attrsOf;
    nullOr = t: mkType "nullOr ${t.name}" (v: v == null || t.check v);
    either = x: y: mkType "either ${x.name} ${y.name}" (v: x.check v || y.check v);
    oneOf = ts: mkType "oneOf" (v: b.any (t: t.check v) ts);
    enum = vs: mkType "enum" (v: b.elem v vs);
    strMatching = re: mkType "strMatching ${re}" (v: b.isString v && b.match re v != null);
    submodule = _: mkType "submodule" b.isAttrs;
    ints = { positive = mkType "positive int" (v: b.isInt v && v > 0); unsigned = mkType "unsigned int" (v: b.isInt v && v >= 0); };
  };
}
