# Runs the wrapper on a container file against the stub nixpkgs
# (-I nixpkgs=./stub-nixpkgs) and returns what wrapper_test.go asserts on.
{ wrapperDir, file, name, ip ? "", prefixLength ? 16, gateway ? "", enableNat ? false }:
let
  w = import "${wrapperDir}/wrapper.nix" { inherit file name ip prefixLength gateway enableNat; };
  c = w.nixos.config;
  defined = w.nixos._stub.isDefined;
  orNull = path: v: if defined path then v else null;
  # Units made /dev/null links (enable = false), by unit name.
  masked = kind: suffix:
    let units = c.systemd.${kind} or { }; in
    map (n: n + suffix) (builtins.filter
      (n: defined [ "systemd" kind n "enable" ] && !units.${n}.enable)
      (builtins.attrNames units));
in
{
  settings = w.settings;
  evalConfigArgs = w.nixos._stub.argNames;
  firstModule = toString (builtins.head w.nixos._stub.modules);
  moduleCount = builtins.length w.nixos._stub.modules;

  isContainer = c.boot.isContainer;
  etcHosts = c.environment.etc.hosts.source or null;
  # What eval-config got as specialArgs, and whether the wrapper defined
  # `_module.args` (it must not: submodules define `_module.args.name`).
  specialArgs = w.nixos._stub.specialArgs;
  moduleArgsDefined = defined [ "_module" "args" "name" ] || defined [ "_module" "args" "ip" ];
  # A second, submodule-like evaluation (as specialisation.<x> or
  # virtualisation.vmVariant make with extendModules): it defines
  # `_module.args.name` itself, and a module in it reads `name`. null if that
  # evaluation fails.
  submoduleSawName =
    let
      sub = w.nixos.extendModules {
        modules = [
          { _module.args.name = "vmVariant"; }
          ({ name, ... }: { environment.etc."nixcloud-sub".text = "sub ${name}"; })
        ];
      };
      r = builtins.tryEval sub.config.environment.etc."nixcloud-sub".text;
    in
    if r.success then r.value else null;
  nixcloudContainer = c.nixcloudContainer;
  # What the container's own module saw as its `name` and `ip` arguments.
  seenByConfiguration = orNull [ "environment" "etc" "nixcloud-probe" "text" ] c.environment.etc.nixcloud-probe.text;

  hostName = c.networking.hostName;
  useDHCP = c.networking.useDHCP;
  useHostResolvConf = c.networking.useHostResolvConf;
  hostonly = c.networking.interfaces.hostonly;
  internet = orNull [ "networking" "interfaces" "internet" ] c.networking.interfaces.internet;
  dhcpcdDeny = c.networking.dhcpcd.denyInterfaces;
  dhcpcdWait = c.networking.dhcpcd.wait;
  dhcpcdExtraConfig = c.networking.dhcpcd.extraConfig;
  tempAddresses = orNull [ "networking" "tempAddresses" ] c.networking.tempAddresses;
  nixEnable = c.nix.enable;
  autologinUser = c.services.getty.autologinUser;
  consoleEnable = c.console.enable;
  consoleGettyUnitConfig = orNull [ "systemd" "services" "console-getty" "unitConfig" ] c.systemd.services.console-getty.unitConfig;
  initrdSystemd = c.boot.initrd.systemd.enable;
  # The toplevel evaluates (the stub's top-level.nix refuses systemd in the
  # initrd, whose init would be systemd itself).
  toplevelEvaluates = (builtins.tryEval (builtins.seq c.system.build.toplevel.drvPath true)).success;
  upstreamUnits = c.systemd.additionalUpstreamSystemUnits;
  udevTriggerExecStart = c.systemd.services.systemd-udev-trigger.serviceConfig.ExecStart;
  sysctlExecStart = c.systemd.services.systemd-sysctl.serviceConfig.ExecStart;
  systemdPackages = c.systemd.packages;
  masked = masked "services" ".service" ++ masked "sockets" ".socket" ++ masked "units" "";
  networkdHostonly = orNull [ "systemd" "network" "networks" "40-hostonly" ] c.systemd.network.networks."40-hostonly";
  networkdInternet = orNull [ "systemd" "network" "networks" "40-internet" ] c.systemd.network.networks."40-internet";
}
