# Overlay: every Python package uses the prebuilt torch-bin wheels (torch, torchvision, torchaudio)
# instead of building torch from source. It extends `pythonPackagesExtensions`, so it composes with
# every other overlay and packageOverrides (python.override { packageOverrides } would replace them),
# and dependants such as pytorch-lightning or tensorboardx need no `.override { torch }`: the package
# set's fixed point already hands them this torch.
{ }:
final: prev: {
  pythonPackagesExtensions = prev.pythonPackagesExtensions ++ [
    (pyFinal: pyPrev: {
      torch = pyFinal.torch-bin;
      torchvision = pyFinal.torchvision-bin;
      torchaudio = pyFinal.torchaudio-bin;
    })
  ];
}
