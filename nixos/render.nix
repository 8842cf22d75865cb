# Pure rendering for the NixOS host module (module.nix): from the merged
# option values to host.toml's settings, the SPEC that `apply` converges
# and the containers' static addresses. Only builtins, so the Go test
# (module_test.go) evaluates it with real Nix and no nixpkgs.
{ cfg                 # config.nixcloud.container (merged, defaults filled)
, wrapper             # guest-patches/wrapper.nix
, evalConfig          # the host's nixos/lib/eval-config.nix, as a function
}:
let
  b = builtins;

  # host.toml: the original's options first, `settings` over them.
  recursiveUpdate = a: c: a // b.mapAttrs
    (n: v: if a ? ${n} && b.isAttrs a.${n} && b.isAttrs v then recursiveUpdate a.${n} v else v) c;
  # Root's subordinate ids start at 0x70000000, in systemd's unused range
  # (docs/UIDS-GIDS.md: above systemd-nspawn's, below 2^31), far from the
  # 65536-id blocks NixOS hands its normal users from 100000 up
  # (autoSubUidGidRange), which the tool's default 100000 would share.
  original = recursiveUpdate { idmap.base = 1879048192; } (
    recursiveUpdate
    (if cfg.internetInterface != "" then { internet.uplink = cfg.internetInterface; } else { })
    (if cfg.ipv6.enable then {
      internet.ipv6 = {
        prefix = "${cfg.ipv6.ipv6Prefix}/${toString cfg.ipv6.ipv6PrefixLength}";
        nameservers = cfg.ipv6.ipv6NameServers;
      } // (if cfg.ipv6.ipv6InternetInterfaceAddress != "" then {
        address = "${cfg.ipv6.ipv6InternetInterfaceAddress}/${toString cfg.ipv6.ipv6PrefixLength}";
      } else { });
    } else { }));
  # Options left null (and empty lists and sets) are not rendered: the
  # tool's defaults apply, and a SPEC entry holds exactly what the same
  # container file would, so both build the same generation.
  isEmpty = v: v == null || v == [ ] || v == { };
  dropNulls = v:
    if b.isAttrs v && !(v ? outPath) then
      let d = b.mapAttrs (_: dropNulls) v; in
      b.removeAttrs d (b.filter (n: isEmpty d.${n}) (b.attrNames d))
    else v;
  hostSettings = dropNulls (recursiveUpdate original cfg.settings);

  # The hostonly network, for the static addresses.
  hostonlyAddress = (hostSettings.hostonly or { }).address or "10.101.0.1/16";
  hostonlyBridge = (hostSettings.hostonly or { }).bridge or "brNC-hostonly";
  split = b.split "/" hostonlyAddress;
  prefixLength = b.fromJSON (b.elemAt split 2);
  octets = b.filter b.isString (b.split "[.]" (b.head split));

  hexDigits = { "0" = 0; "1" = 1; "2" = 2; "3" = 3; "4" = 4; "5" = 5; "6" = 6; "7" = 7;
    "8" = 8; "9" = 9; "a" = 10; "b" = 11; "c" = 12; "d" = 13; "e" = 14; "f" = 15; };
  hexToInt = s: b.foldl' (acc: i: acc * 16 + hexDigits.${b.substring i 1 s}) 0 (b.genList (i: i) (b.stringLength s));

  # A declared container without network.ip gets an address derived from
  # its name in the upper half of the hostonly /16 (10.101.128.1 to
  # 10.101.254.254 by default), where `create` (lowest free from .0.2)
  # does not get for the first 32000 containers. Stable: adding or
  # removing another container never moves it.
  derivedAddress = name:
    let
      x = hexToInt (b.substring 0 6 (b.hashString "sha256" name));
      n = x - (x / (127 * 254)) * (127 * 254);
    in
    if prefixLength != 16
    then throw "nixcloud.container.containers.${name}.network.ip: the hostonly network ${hostonlyAddress} is not a /16; set the address yourself"
    else "${b.elemAt octets 0}.${b.elemAt octets 1}.${toString (128 + n / 254)}.${toString (1 + n - (n / 254) * 254)}";

  pick = name: a: alias: what:
    if alias != null && a != null && alias != a
    then throw "nixcloud.container.containers.${name}: set ${what}, not both spellings"
    else if alias != null then alias else a;

  # One SPEC entry: the container file's keys, the guest system built with
  # the same wrapper the CLI uses (so the generation is the same as that of
  # an imperative container with this file and address).
  entry = name: c:
    let
      configuration = pick name c.configuration c.config "either configuration or config";
      autostart = pick name c.autostart c.autoStart "either autostart or autoStart";
      onHostonly = c.network.bridge == null || c.network.bridge == hostonlyBridge;
      ip = if c.network.ip != null then c.network.ip
        else if onHostonly then derivedAddress name
        else throw "nixcloud.container.containers.${name}.network.ip: a container on the bridge ${c.network.bridge} needs its address set";
      bare = b.head (b.filter b.isString (b.split "/" ip));
      network = dropNulls (c.network // { inherit ip; });
      settings = dropNulls {
        inherit autostart;
        inherit (c) autostartPriority autostartDelay ephemeral extraLxcConfig haltSignal store;
        inherit network;
        limits = c.limits;
        bindMounts = b.listToAttrs (map
          (p:
            let m = c.bindMounts.${p}; target = if m.mountPoint != null then m.mountPoint else p; in {
              name = target;
              value = { hostPath = if m.hostPath != null then m.hostPath else target; inherit (m) isReadOnly shift; };
            })
          (b.attrNames c.bindMounts));
        forwardPorts = map
          (f: { inherit (f) protocol hostPort; containerPort = if f.containerPort != null then f.containerPort else f.hostPort; })
          c.forwardPorts;
      };
      system =
        if c.system != null && configuration != null then throw "nixcloud.container.containers.${name}: set either configuration (config) or system, not both"
        else if c.system != null then c.system
        else if configuration == null then throw "nixcloud.container.containers.${name}: set configuration (config) or system"
        else (import wrapper {
          inherit name evalConfig;
          container = { inherit configuration; };
          ip = if onHostonly then bare else "";
          prefixLength = if onHostonly then prefixLength else 16;
          enableNat = c.network.enableNat == true;
        }).system;
    in
    { inherit ip; settings = settings // { system = "${system}"; }; };

  entries = b.mapAttrs entry cfg.containers;
  addresses = b.mapAttrs (_: e: e.ip) entries;
  addressList = b.attrValues addresses;
in
{
  inherit hostSettings addresses;
  spec = b.mapAttrs (_: e: e.settings) entries;
  # Names of containers whose address another one has too.
  duplicateAddresses = b.filter (n: b.length (b.filter (a: a == addresses.${n}) addressList) > 1) (b.attrNames addresses);
}
