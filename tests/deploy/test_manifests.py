"""deploy/ checked offline, since no container engine runs here: the compose file against the Compose
Specification's schema, the Kubernetes manifests against the 1.37 schemas (strict), and both against
the code: every command they run exists, every setting they set is read, every probe has its port."""

from __future__ import annotations

import json
import re
import tomllib
from importlib.resources import files
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from cli.main import app as cli
from settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ROOT = DEPLOY.parent
K8S_VERSION = "1.37.0"
# Read by the Temporal SDK's environment configuration rather than by Settings.
TEMPORAL_ENV = {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_PROFILE",
                "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH"}


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _manifests() -> list[tuple[str, dict]]:
    return [(path.name, doc) for path in sorted((DEPLOY / "k8s").glob("*.yaml")) if path.name != "temporal-values.yaml"
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def _commands() -> set[str]:
    return {command.name for command in cli.registered_commands}


def _settings_env() -> set[str]:
    names = {"DATABASE_URL"} | {f"CYBERINS_{name.upper()}" for name in Settings.model_fields}
    return names | TEMPORAL_ENV


def _cyberins_services(compose: dict) -> dict[str, dict]:
    return {name: service for name, service in compose["services"].items()
            if service.get("image", "").startswith("cyberins:")}


def test_the_compose_file_is_valid_against_the_compose_specification():
    schema = json.loads(files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text())
    jsonschema.validate(_compose(), schema)  # raises with the path of what is wrong


def test_compose_runs_every_part_the_stack_needs():
    services = _compose()["services"]
    assert {"temporal", "temporal-db", "temporal-ui", "cyberins-db", "migrate", "worker", "api", "codec",
            "prometheus", "grafana"} <= set(services)
    assert services["temporal"]["image"].startswith("temporalio/")  # the official images
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    assert "replicas" not in services["worker"].get("deploy", {})  # so `--scale worker=N` decides


def test_compose_runs_only_commands_the_cli_has_and_sets_only_settings_it_reads():
    services = _cyberins_services(_compose())
    assert {"migrate", "worker", "api", "codec", "temporal-setup"} <= set(services)
    for name, service in services.items():
        assert service["command"][0] in _commands(), f"{name} runs `cyberins {service['command'][0]}`, which does not exist"
        unknown = set(service["environment"]) - _settings_env()
        assert not unknown, f"{name} sets {unknown}, which nothing reads"


def test_compose_publishes_no_database_or_temporal_frontend_port():
    services = _compose()["services"]
    for name in ("temporal-db", "cyberins-db", "temporal", "worker", "migrate"):
        assert "ports" not in services[name], f"{name} should stay on the compose network"


@pytest.mark.parametrize(("source", "manifest"), _manifests(), ids=lambda m: m if isinstance(m, str) else m["kind"])
def test_each_kubernetes_manifest_is_valid_for_kubernetes_1_37(source, manifest):
    kubernetes_validate.validate(manifest, desired_version=K8S_VERSION, strict=True)


def _containers() -> list[tuple[str, dict]]:
    found = []
    for source, manifest in _manifests():
        if manifest["kind"] in ("Deployment", "Job"):
            found += [(f"{source}:{c['name']}", c) for c in manifest["spec"]["template"]["spec"]["containers"]]
    return found


def test_every_container_has_resource_requests_and_runs_a_cli_command():
    containers = _containers()
    assert len(containers) >= 5
    for where, container in containers:
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
        assert container["args"][0] in _commands(), where


def test_every_deployment_has_liveness_and_readiness_probes_on_ports_it_declares():
    deployments = [m for _, m in _manifests() if m["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {"cyberins-worker", "cyberins-api", "cyberins-codec"}
    for deployment in deployments:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            ports = {port["name"] for port in container["ports"]}
            for probe in ("livenessProbe", "readinessProbe"):
                assert container[probe]["httpGet"]["port"] in ports, (deployment["metadata"]["name"], probe)


def test_the_worker_listens_where_its_probes_and_scrape_look():
    config = next(m for _, m in _manifests() if m["kind"] == "ConfigMap")["data"]
    worker = next(m for _, m in _manifests() if m["metadata"]["name"] == "cyberins-worker" and m["kind"] == "Deployment")
    pod = worker["spec"]["template"]
    ports = {port["name"]: port["containerPort"] for port in pod["spec"]["containers"][0]["ports"]}
    assert ports == {"health": int(config["CYBERINS_WORKER_HEALTH_PORT"]), "metrics": int(config["CYBERINS_WORKER_METRICS_PORT"])}
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == config["CYBERINS_WORKER_METRICS_PORT"]
    assert config["CYBERINS_WORKER_HOST"] == "0.0.0.0"
    unknown = set(config) - _settings_env()
    assert not unknown, f"the ConfigMap sets {unknown}, which nothing reads"


def test_the_temporal_chart_values_use_postgresql_and_turn_the_bundled_databases_off():
    values = yaml.safe_load((DEPLOY / "k8s" / "temporal-values.yaml").read_text())
    for store in ("default", "visibility"):
        assert values["server"]["config"]["persistence"][store]["sql"]["driver"] == "postgres12"
    assert not any(values[bundled]["enabled"] for bundled in ("cassandra", "mysql", "postgresql", "elasticsearch"))


def test_the_image_holds_every_package_the_project_installs():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+) \1$", dockerfile, flags=re.MULTILINE))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {pattern.rstrip("*") for pattern in project["packages"]["find"]["include"]}
    assert packages <= copied, f"the image misses {packages - copied}"
    modules = {f"{module}.py" for module in project["py-modules"]}
    assert modules <= set(re.search(r"^COPY pyproject.toml README.md (.+) \./$", dockerfile, re.MULTILINE).group(1).split())
    assert all((ROOT / package).is_dir() for package in copied)


def test_the_grafana_dashboard_is_a_dashboard_over_the_provisioned_datasource():
    dashboard = json.loads((DEPLOY / "grafana" / "cyberins.json").read_text())
    assert dashboard["uid"] and dashboard["title"]
    targets = [t for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert targets and all(t["datasource"]["uid"] == "prometheus" for t in targets)
    provisioned = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    assert provisioned["datasources"][0]["uid"] == "prometheus"


def test_compose_probes_and_scrapes_the_ports_the_image_listens_on():
    image_env = dict(re.findall(r"(CYBERINS_[A-Z_]+)=(\S+)", (DEPLOY / "Dockerfile").read_text()))
    assert image_env["CYBERINS_WORKER_HOST"] == "0.0.0.0"  # reachable by Prometheus from its container
    worker_probe = " ".join(_compose()["services"]["worker"]["healthcheck"]["test"])
    assert f":{image_env['CYBERINS_WORKER_HEALTH_PORT']}/ready" in worker_probe
    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["scrape_configs"]
    worker_job = next(job for job in scrape if job["job_name"] == "cyberins-worker")
    assert worker_job["dns_sd_configs"][0]["port"] == int(image_env["CYBERINS_WORKER_METRICS_PORT"])
