# A NixOS web server (nginx) in an unprivileged LXC container.
#
#   nixcloud-container create web examples/nginx.nix --start
#   curl http://$(nixcloud-container show-ip web | head -n1)/   # from the host, over hostonly
#   curl http://<a host address>:8080/                           # through the port forward
#
# NixOS guests need nixpkgs: -n "-I nixpkgs=/path/to/nixpkgs", `nixpkgs` in
# host.toml, or NIX_PATH. Edit the file and run `nixcloud-container update web`
# for a new generation; `nixcloud-container rollback web` goes back.
{
  # Host side: forward the host's TCP port 8080 to the container's port 80.
  forwardPorts = [ { protocol = "tcp"; hostPort = 8080; containerPort = 80; } ];

  # Guest side: a NixOS module. `name` and `ip` are the container's name and
  # its hostonly IPv4 address.
  configuration = { pkgs, name, ip, ... }: {
    services.nginx = {
      enable = true;
      virtualHosts.${name} = {
        default = true;
        root = pkgs.writeTextDir "index.html" ''
          <h1>Hello from ${name} (${ip})</h1>
        '';
      };
    };
    networking.firewall.allowedTCPPorts = [ 80 ];

    # The NixOS release this container was first deployed with; keep it.
    system.stateVersion = "24.11";
  };
}
