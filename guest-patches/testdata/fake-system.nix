# A guest "system" for the wrapper's build tests: a store path holding an
# executable `init`, built without nixpkgs (builtin:buildenv links the
# entries of ./fake-system into the output).
derivation {
  name = "nixcloud-container-test-system";
  system = "builtin";
  builder = "builtin:buildenv";
  manifest = builtins.toFile "fake-system-manifest" "fake system";
  derivations = [ "true" 5 1 (builtins.path { path = ./fake-system; name = "fake-system-src"; }) ];
  preferLocalBuild = true;
  allowSubstitutes = false;
}
