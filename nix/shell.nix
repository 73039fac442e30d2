# Development shell with the project, its dependency set and ffmpeg. `nix-shell nix/shell.nix`
{
  # projectDependencies: the attrset returned by ./dependencies.nix.
  projectDependencies ? import ./dependencies.nix { }
}:
let
  inherit (projectDependencies) pkgs cudatoolkit;
  myProject = import ./project.nix { inherit projectDependencies; };
in
pkgs.mkShell {
  packages = [
    (projectDependencies.python.withPackages (ps: [ myProject ]))
    pkgs.git
    pkgs.curl
    pkgs.ffmpeg
  ];
  shellHook = ''
    export CUDA_PATH=${cudatoolkit}
    # The host driver: NixOS keeps it in /run/opengl-driver/lib, WSL in /usr/lib/wsl/lib.
    export LD_LIBRARY_PATH=/run/opengl-driver/lib:/usr/lib/wsl/lib''${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  '';
}
