# A bare module that is an attribute set and sets system.stateVersion: still
# the first shape (a module), not a settings file with a prebuilt `system`.
{
  system.stateVersion = "24.11";
  environment.etc."nixcloud-probe".text = "attrs";
}
