# `configuration` and `system` together: refused.
{
  configuration = { ... }: { };
  system = import ./fake-system.nix;
}
