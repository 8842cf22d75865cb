# NixOS VM test of nixcloud-container with a real NixOS guest: host setup,
# create examples/nginx.nix, start, curl it from the host over hostonly and
# through the port forward, update while running, rollback, switch-generation,
# list-generations, stop, destroy, host teardown; and the host module
# (nixos/module.nix) with a declared container converged by `apply` at
# activation, updated by activating a specialisation, rolled back on its own.
#
#   nix-build test.nix -I nixpkgs=/path/to/nixpkgs --argstr vendorHash sha256-…
#
# Needs KVM and a nixpkgs whose Go is at least go.mod's `go` version. It cannot
# run in CI (no nixpkgs, no KVM there); CI only checks that it parses
# (guest-patches/parse_test.go).
#
# vendorHash: the hash of the Go module dependencies (the repository has no
# vendor/ directory, so null would not do). The default is lib.fakeHash: the
# first build fails and prints the right hash to pass here.
{ vendorHash ? "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
, ...
}@args:
import <nixpkgs/nixos/tests/make-test-python.nix> ({ pkgs, lib, ... }:
let
  nixcloud-container = pkgs.buildGoModule {
    pname = "nixcloud-container";
    version = "test";
    src = lib.cleanSource ./.;
    inherit vendorHash;
    subPackages = [ "cmd/nixcloud-container" ];
    # go-lxc is cgo against liblxc.
    nativeBuildInputs = [ pkgs.pkg-config ];
    buildInputs = [ pkgs.lxc ];
    # The Go tests need root, LXC and network namespaces; this file is the
    # test here.
    doCheck = false;
  };

  # Version 2 of the web container: the same, plus a marker file. A
  # builtins.toFile (not writeText) so importing it below needs no
  # import-from-derivation.
  webV2 = builtins.toFile "nginx-v2.nix" ''
    let base = import ${./examples/nginx.nix}; in
    base // {
      configuration = { ... }: {
        imports = [ base.configuration ];
        environment.etc."nixcloud-test-version".text = "v2";
      };
    }
  '';

  # The VM is offline: the guest systems must already be in its store. The
  # tool evaluates the same wrapper with the same arguments inside the VM
  # (the first pool address 10.101.0.2 with the default hostonly prefix
  # length 16, no NAT, no gateway -- generations.Input passes `gateway` empty,
  # the wrapper's default -- and host.toml's nixpkgs = this pkgs.path), so its
  # nix-build finds them instead of building. If these arguments drift from
  # what the tool passes, the VM tries to build a NixOS system and fails.
  guestSystem = file: (import ./guest-patches/wrapper.nix {
    inherit file;
    name = "web";
    ip = "10.101.0.2";
    prefixLength = 16;
    enableNat = false;
  }).system;
in
{
  name = "nixcloud-container";

  nodes.host = { config, pkgs, ... }: {
    # The host module: bridges at boot, autostart, and the declared
    # container `decl` converged by `apply` at every activation.
    imports = [ ./nixos/module.nix ];
    nixcloud.container = {
      enable = true;
      package = nixcloud-container;
      settings.nixpkgs = "${pkgs.path}";
      containers.decl = {
        autoStart = true;
        config = { ... }: {
          environment.etc."decl-version".text = "v1";
          system.stateVersion = "24.11";
        };
      };
    };
    # An update by activation, as nixos-rebuild switch does it.
    specialisation.v2.configuration = {
      nixcloud.container.containers.decl.config = {
        environment.etc."decl-version".text = lib.mkForce "v2";
      };
    };

    # Evaluating a NixOS guest (nix-instantiate of the wrapper) inside the
    # VM, with the VM's store on tmpfs, does not fit in 2048 MB.
    virtualisation.memorySize = 3072;
    virtualisation.diskSize = 4096;
    virtualisation.additionalPaths = [
      (guestSystem ./examples/nginx.nix)
      (guestSystem webV2)
    ];

    # LXC's common.conf and userns.conf under /run/current-system/sw/share/lxc/config.
    environment.pathsToLink = [ "/share/lxc" ];
    environment.systemPackages = [ pkgs.dnsmasq pkgs.iptables pkgs.curl ];
    # LXC, root's subordinate ids and host.toml come from the module.
    environment.etc."nixcloud-test/nginx.nix".source = ./examples/nginx.nix;
    environment.etc."nixcloud-test/nginx-v2.nix".source = webV2;

    nix.nixPath = [ "nixpkgs=${pkgs.path}" ];
    nix.settings.substituters = lib.mkForce [ ];

    # The host firewall stays on; the container bridges are the tool's.
    networking.firewall.trustedInterfaces = [ "brNC-hostonly" "brNC-internet" ];
  };

  testScript = ''
    import json

    nc = "nixcloud-container"
    sw = "/run/current-system/sw/bin"
    lxcpath = "/var/lib/nixcloud-container/containers"

    host.start()
    host.wait_for_unit("multi-user.target")

    with subtest("host setup"):
        host.succeed(f"{nc} host setup")
        host.succeed(f"{nc} host setup")  # idempotent
        host.succeed(f"{nc} host status")
        host.succeed("ip link show brNC-hostonly")

    with subtest("create"):
        host.succeed(f"{nc} create web /etc/nixcloud-test/nginx.nix")
        host.succeed(f"{nc} exists web")
        host.fail(f"{nc} create web /etc/nixcloud-test/nginx.nix")
        host.fail(f"{nc} exists nosuchcontainer")
        assert host.succeed(f"{nc} state web").strip() == "STOPPED"
        ip = host.succeed(f"{nc} show-ip web").splitlines()[0].strip()
        assert ip == "10.101.0.2", ip
        gens = json.loads(host.succeed(f"{nc} list-generations web --json"))
        assert len(gens) == 1, gens

    with subtest("start: a real NixOS guest, unprivileged, reachable over hostonly"):
        host.succeed(f"{nc} start web")
        host.wait_until_succeeds(f"{nc} state web | grep -qx RUNNING")
        state = host.succeed(
            f"{nc} run web -- {sw}/systemctl is-system-running --wait || true"
        ).strip()
        if state != "running":
            print(host.succeed(f"{nc} run web -- {sw}/systemctl --failed --no-pager || true"))
        assert state == "running", f"guest systemd is {state!r}"
        host.succeed(f"{nc} run web -- {sw}/systemctl is-active nginx.service")
        host.wait_until_succeeds(f"curl -sf http://{ip}/ | grep -F 'Hello from web ({ip})'")
        # Port forward: host port 8080 -> container port 80, also from the host itself.
        host.wait_until_succeeds(
            "curl -sf http://$(ip -4 -o addr show dev eth1 | awk '{print $4}' | cut -d/ -f1):8080/"
            " | grep -F 'Hello from web'"
        )

        # Root inside, a high unmapped uid outside.
        assert host.succeed(f"{nc} run web -- {sw}/id -u").strip() == "0"
        pid = host.succeed(f"lxc-info -P {lxcpath} -n web -p -H").strip()
        uid = int(host.succeed(f"stat -c %u /proc/{pid}").strip())
        assert uid >= 100000, uid

        # The host's store, read-only; no Nix daemon or database in the guest.
        host.fail(f"{nc} run web -- {sw}/touch /nix/store/nixcloud-test")
        host.succeed(f"{nc} run web -- {sw}/test ! -e {sw}/nix-daemon")
        host.succeed(f"{nc} run web -- {sw}/test ! -e /nix/var/nix/db/db.sqlite")

        # run passes the exit status through.
        host.fail(f"{nc} run web -- {sw}/false")
        host.succeed(f"{nc} list --json | grep -F '\"web\"'")

    with subtest("update while running"):
        host.succeed(f"{nc} update web /etc/nixcloud-test/nginx-v2.nix")
        host.wait_until_succeeds(
            f"{nc} run web -- {sw}/cat /etc/nixcloud-test-version | grep -qx v2"
        )
        host.wait_until_succeeds(f"curl -sf http://{ip}/ | grep -F 'Hello from web'")
        gens = json.loads(host.succeed(f"{nc} list-generations web --json"))
        assert len(gens) == 2, gens
        # An identical build makes no new generation (FILE defaults to the recorded one).
        host.succeed(f"{nc} update web")
        gens = json.loads(host.succeed(f"{nc} list-generations web --json"))
        assert len(gens) == 2, gens

    with subtest("rollback and switch-generation"):
        host.succeed(f"{nc} rollback web")
        host.wait_until_succeeds(
            f"{nc} run web -- {sw}/test ! -e /etc/nixcloud-test-version"
        )
        host.wait_until_succeeds(f"curl -sf http://{ip}/ | grep -F 'Hello from web'")
        host.succeed(f"{nc} list-generations web")
        host.succeed(f"{nc} switch-generation web 2")
        host.wait_until_succeeds(
            f"{nc} run web -- {sw}/cat /etc/nixcloud-test-version | grep -qx v2"
        )

    with subtest("stop and destroy"):
        host.fail(f"{nc} destroy web")  # running: refused without --force
        host.succeed(f"{nc} stop web --timeout 60s")
        assert host.succeed(f"{nc} state web").strip() == "STOPPED"
        host.fail(f"curl -sf --max-time 5 http://{ip}/")
        host.succeed(f"{nc} destroy web")
        host.fail(f"{nc} exists web")
        # Only the declared container is left.
        assert [c["name"] for c in json.loads(host.succeed(f"{nc} list --json"))] == ["decl"]
        host.succeed("test ! -e /nix/var/nix/profiles/nixcloud-container/web")
        host.succeed(f"test ! -e {lxcpath}/web")

    with subtest("declarative container: apply at activation, update, rollback"):
        host.wait_for_unit("nixcloud-container-apply.service")
        host.wait_until_succeeds(f"{nc} state decl | grep -qx RUNNING")
        host.wait_until_succeeds(f"{nc} run decl -- {sw}/cat /etc/decl-version | grep -qx v1")
        assert json.loads(host.succeed(f"{nc} list --json"))[0]["declared"]
        # apply started decl inside its unit's cgroup: a restart of the
        # unit (as activation does on every SPEC change) leaves it running.
        host.succeed(f"{nc} run decl -- {sw}/touch /run/still-the-same-boot")
        host.succeed("systemctl restart nixcloud-container-apply.service")
        host.succeed(f"{nc} run decl -- {sw}/test -e /run/still-the-same-boot")
        # Activation of a changed configuration restarts the apply unit:
        # only decl gets a new generation.
        host.succeed("/run/current-system/specialisation/v2/bin/switch-to-configuration test")
        host.wait_until_succeeds(f"{nc} run decl -- {sw}/cat /etc/decl-version | grep -qx v2")
        gens = json.loads(host.succeed(f"{nc} list-generations decl --json"))
        assert len(gens) == 2, gens
        # A per-container rollback stays until the configuration changes decl again.
        host.succeed(f"{nc} rollback decl")
        host.wait_until_succeeds(f"{nc} run decl -- {sw}/cat /etc/decl-version | grep -qx v1")
        out = host.succeed(f"{nc} apply /etc/nixcloud-container/spec.nix")
        assert "decl: unchanged" in out, out
        host.succeed(f"{nc} run decl -- {sw}/cat /etc/decl-version | grep -qx v1")
        host.succeed(f"{nc} destroy decl --force")

    with subtest("host teardown"):
        host.succeed(f"{nc} host teardown")
        host.fail("ip link show brNC-hostonly")
  '';
}) (builtins.removeAttrs args [ "vendorHash" ])
