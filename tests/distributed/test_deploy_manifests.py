"""The Kubernetes manifests and the Dockerfile in deploy/ say what docs/kubernetes.md says."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from dask.utils import parse_bytes

from daskmix.cli import build_parser

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def load(name):
    """The YAML documents of ``deploy/name``, by kind."""
    documents = list(yaml.safe_load_all((DEPLOY / name).read_text()))
    return {doc["kind"]: doc for doc in documents}


def containers(pod_spec):
    return {c["name"]: c for c in pod_spec["containers"]}


def test_dask_cluster_manifest():
    cluster = load("daskcluster.yaml")["DaskCluster"]
    assert cluster["apiVersion"] == "kubernetes.dask.org/v1"
    name = cluster["metadata"]["name"]
    worker = containers(cluster["spec"]["worker"]["spec"])["worker"]
    scheduler = containers(cluster["spec"]["scheduler"]["spec"])["scheduler"]
    assert worker["args"][:2] == ["dask", "worker"]
    assert scheduler["args"][:2] == ["dask", "scheduler"]
    assert worker["image"] == scheduler["image"]  # one image: same versions everywhere
    # the worker's managed memory stays below the pod's limit, so dask spills and
    # pauses before the OOM killer ends the pod
    args = worker["args"]
    managed = parse_bytes(args[args.index("--memory-limit") + 1])
    limit = parse_bytes(worker["resources"]["limits"]["memory"].replace("Gi", "GiB"))
    assert 0.7 * limit <= managed < limit
    threads = int(args[args.index("--nthreads") + 1])
    assert threads <= int(worker["resources"]["limits"]["cpu"])
    service = cluster["spec"]["scheduler"]["service"]
    assert service["selector"]["dask.org/cluster-name"] == name
    ports = {p["name"]: p for p in service["ports"]}
    assert ports["tcp-comm"]["port"] == 8786
    assert {p["name"] for p in scheduler["ports"]} >= {"tcp-comm", "http-dashboard"}


def test_fit_job_connects_to_the_cluster_and_parses():
    cluster = load("daskcluster.yaml")["DaskCluster"]
    manifests = load("fit-job.yaml")
    job = manifests["Job"]
    assert job["apiVersion"] == "batch/v1"
    pod = job["spec"]["template"]["spec"]
    fit = containers(pod)["fit"]
    assert fit["image"] == containers(cluster["spec"]["scheduler"]["spec"])["scheduler"]["image"]
    assert fit["args"][0] == "daskmix"
    args = build_parser().parse_args(fit["args"][1:])  # the real command line
    assert args.command == "fit"
    service = (f"tcp://{cluster['metadata']['name']}-scheduler."
               f"{cluster['metadata']['namespace']}.svc.cluster.local:8786")
    assert args.scheduler == service
    assert job["metadata"]["namespace"] == cluster["metadata"]["namespace"]
    assert re.match(r"s3://", args.input)
    # the model goes to the mounted volume, which is the PersistentVolumeClaim
    mounts = {m["name"]: m["mountPath"] for m in fit["volumeMounts"]}
    assert args.output.startswith(mounts["models"] + "/")
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
    assert claims["models"] == manifests["PersistentVolumeClaim"]["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_dockerfile_is_pinned_non_root_and_copies_what_exists():
    text = (DEPLOY / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", text, flags=re.MULTILINE).group(1)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), base  # pinned, slim
    user = re.findall(r"^USER (\S+)", text, flags=re.MULTILINE)
    assert user and not user[-1].startswith(("0", "root"))
    root = DEPLOY.parent
    for line in re.findall(r"^COPY (.+)$", text, flags=re.MULTILINE):
        for source in line.split()[:-1]:
            assert (root / source).exists(), source
