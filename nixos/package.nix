# nixcloud-container built from this repository, for the NixOS module
# (nixcloud.container.package). cgo: go-lxc links liblxc.
# vendorHash is the hash of `go mod vendor` of go.sum at the time of
# writing (computed with nix-hash, not checked by a nixpkgs build here):
# when go.sum changes, set it to lib.fakeHash and take the hash Nix reports.
{ lib, buildGoModule, pkg-config, lxc, makeWrapper }:
buildGoModule {
  pname = "nixcloud-container";
  version = "0.1.0";
  src = lib.cleanSource ../.;
  vendorHash = "sha256-U2H1iHeBnJAKrxHJ7Fae9WZAkYg9SHaKlJZ0Vqsu+o8=";
  subPackages = [ "cmd/nixcloud-container" ];
  nativeBuildInputs = [ pkg-config ];
  buildInputs = [ lxc ];
  # The integration tests need root, LXC and network namespaces.
  doCheck = false;
  meta = {
    description = "NixOS system containers on unprivileged LXC, with Nix generations per container";
    platforms = lib.platforms.linux;
    mainProgram = "nixcloud-container";
  };
}
