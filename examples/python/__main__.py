"""A Python program on the nix-gpu-deploy components, through the SDK `pulumi package add` generates.

Its stack config has the same sections as nix-gpu-deploy's own stacks (nix, image, registry, gpu,
cluster, deployment), plus `nixProject`, the directory of the Nix project to build; the secrets
registryPassword and kubeconfig. The sections go to the components as they are (camelCase keys).
"""
import pulumi
import pulumi_nix_gpu_deploy as ngd

config = pulumi.Config()
nix = config.get_object("nix") or {}
cluster = config.require_object("cluster")
workload = config.require_object("deployment")
registry = config.require_object("registry")
registry_password = config.get_secret("registryPassword")

model = ngd.NixImage(
    "model",
    project_dir=config.require("nixProject"),
    nix=nix,
    image=config.require_object("image"),
    registry=registry,
    registry_password=registry_password,
    rollout={
        "kind": workload.get("kind", "Deployment"),
        "namespace": cluster["namespace"],
        "name": workload["name"],
        "replicas": workload.get("replicas", 1),
        "strategy": workload.get("strategy", "RollingUpdate"),
    },
)

pull = None
if registry.get("username") and registry_password is not None:
    pull = {"registry": registry["host"], "username": registry["username"], "password": registry_password}

serve = ngd.GpuWorkload(
    "serve",
    image=model.image_ref,
    image_identity=model.identity,
    store_path=model.store_path,
    gpu=config.get_object("gpu"),
    cluster=cluster,
    deployment=workload,
    cuda_capabilities=nix.get("cudaCapabilities"),
    system=nix.get("system"),
    kubeconfig=config.get_secret("kubeconfig"),
    pull_credentials=pull,
)

# What the components read back on the next run (the preview explanation, the owner id, the preflight).
pulumi.export("imageRef", model.image_ref)
pulumi.export("storePath", model.store_path)
pulumi.export("nixExplain", model.nix_explain)
pulumi.export("namespace", serve.namespace)
pulumi.export("deployment", serve.deployment)
pulumi.export("owner", serve.owner)
pulumi.export("clusterChecked", serve.cluster_checked)
