# The SPEC the NixOS module hands to `nixcloud-container apply`, from the
# JSON the module renders (render.nix's `spec`): every system a store path
# with its context (builtins.storePath), so that each generation
# references the system it boots and the GC keeps it.
jsonFile:
builtins.mapAttrs (name: c: c // { system = builtins.storePath c.system; })
  (builtins.fromJSON (builtins.readFile jsonFile))
