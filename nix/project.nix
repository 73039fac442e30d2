# The ML project (./src) as a Python package built against the dependency set.
{
  # projectDependencies: the attrset returned by ./dependencies.nix.
  projectDependencies ? import ./dependencies.nix { }
}:
let
  inherit (projectDependencies) lib python;
in
python.pkgs.buildPythonPackage {
  pname = "myproject";
  version = "0.1";
  format = "setuptools";
  src = lib.cleanSource ./src;

  propagatedBuildInputs = projectDependencies.dependencies;

  # The project has no test directory; check at least that the package imports.
  pythonImportsCheck = [ "myproject" ];
}
