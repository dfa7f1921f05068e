"""The Helm chart: `helm lint`, `helm template`, and every rendered manifest against Kubernetes' schemas.

helm is built from the Go module proxy by ``deploy/ops-tools.sh`` (cached in
.cache). The schemas are the Kubernetes JSON schemas shipped inside the
``kubernetes-validate`` wheel, so validation needs no network; strict mode
rejects unknown fields. The two Prometheus Operator objects are CRDs without
a schema there: the PrometheusRule is checked to be the rules file itself
(and passes ``promtool check rules``), the ServiceMonitor to select both
Services by a port they have.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import SecretStr

from ops import chart
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "deploy" / "helm" / "txmon"
RULES = ROOT / "deploy" / "prometheus" / "txmon-rules.yml"
K8S_VERSION = "1.33.0"
CORE_KINDS = {"ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget"}


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    path = subprocess.run(
        ["bash", str(ROOT / "deploy" / "ops-tools.sh"), "helm-path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not os.access(path, os.X_OK):
        pytest.fail(f"helm is missing at {path}: run `bash deploy/ops-tools.sh install` (go install from the proxy)")
    home = tmp_path_factory.mktemp("helm-home")
    env = {**os.environ, **{f"HELM_{k}_HOME": str(home / k.lower()) for k in ("CACHE", "CONFIG", "DATA")}}
    yield path, env


def render(helm: tuple[str, dict[str, str]], *sets: str) -> list[dict[str, Any]]:
    path, env = helm
    args = [path, "template", "rel", str(CHART), "--namespace", "fraud"]
    for s in sets:
        args += ["--set", s]
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_helm_lint_strict(helm: tuple[str, dict[str, str]]) -> None:
    path, env = helm
    result = subprocess.run(
        [path, "lint", "--strict", str(CHART)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(
    "sets",
    [
        (),
        ("existingSecret=bank-managed", "tls.secretName=kafka-tls", "worker.replicas=6", "config.TXMON_WEB_PORT=7000"),
    ],
)
def test_rendered_manifests_are_valid_kubernetes_objects(
    helm: tuple[str, dict[str, str]], sets: tuple[str, ...]
) -> None:
    docs = render(helm, *sets)
    kinds = {d["kind"] for d in docs}
    assert CORE_KINDS - {"Secret"} <= kinds and {"ServiceMonitor", "PrometheusRule"} <= kinds
    for doc in docs:
        if doc["kind"] in CORE_KINDS:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises on any schema error
    with pytest.raises(kubernetes_validate.ValidationError):  # the validation is not a no-op
        broken = {**by_kind(docs, "Deployment")[0]}
        broken["spec"] = {**broken["spec"], "replicas": "three"}
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_workloads_probes_resources_and_disruption_budgets(helm: tuple[str, dict[str, str]]) -> None:
    docs = render(helm)
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in by_kind(docs, "Deployment")}
    worker, console = deployments["worker"], deployments["console"]
    assert worker["spec"]["replicas"] == 3 and console["spec"]["replicas"] == 2
    w = worker["spec"]["template"]["spec"]["containers"][0]
    assert w["args"] == ["worker", "--quiet"]
    assert (w["livenessProbe"]["httpGet"]["path"], w["readinessProbe"]["httpGet"]["path"]) == ("/health", "/ready")
    assert w["ports"][0]["containerPort"] == 6066
    assert w["env"] == [{"name": "TXMON_GROUP_INSTANCE_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    c = console["spec"]["template"]["spec"]["containers"][0]
    assert c["args"] == ["console"] and c["readinessProbe"]["httpGet"]["path"] == "/health"
    for container in (w, c):
        assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    pods = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()}
    pdbs = by_kind(docs, "PodDisruptionBudget")
    assert len(pdbs) == 2
    for pdb in pdbs:
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert [name for name, labels in pods.items() if selector.items() <= labels.items()] == [
            selector["app.kubernetes.io/component"]
        ]
    console_service = next(
        s for s in by_kind(docs, "Service") if s["metadata"]["labels"]["txmon-job"] == "txmon-console"
    )
    assert console_service["spec"]["selector"].items() <= pods["console"].items()
    moved = {
        d["metadata"]["labels"].get("app.kubernetes.io/component"): d
        for d in by_kind(render(helm, "config.TXMON_WEB_PORT=7000"), "Deployment")
    }
    assert moved["worker"]["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 7000


def test_every_setting_is_in_the_configmap_or_the_secret(helm: tuple[str, dict[str, str]]) -> None:
    assert chart.main(["--check"]) == 0, "deploy/helm/txmon/files/settings.yaml is stale: run `python -m ops.chart`"
    unset = [key for key, value in chart.settings_tree()["config"].items() if value is None]
    assert "TXMON_RULES_FILE" in unset  # settings without a default stay out of the ConfigMap until set
    assert "TXMON_RULES_FILE" not in by_kind(render(helm), "ConfigMap")[0]["data"]
    docs = render(helm, *(f"config.{key}=/etc/txmon/{key.lower()}" for key in unset))
    config = by_kind(docs, "ConfigMap")[0]["data"]
    secret = by_kind(docs, "Secret")[0]["stringData"]
    every = {chart.env_name(name) for name in Settings.model_fields}
    secret_names = {
        chart.env_name(n)
        for n, f in Settings.model_fields.items()
        if "SecretStr" in str(f.annotation) or f.annotation is SecretStr
    }
    assert set(config) | set(secret) == every
    assert set(secret) == secret_names and not set(config) & secret_names
    assert config["TXMON_WEB_HOST"] == "0.0.0.0" and config["TXMON_LOG_FORMAT"] == "json"
    bank_managed = render(helm, "existingSecret=bank-managed")
    assert not by_kind(bank_managed, "Secret")
    env_from = by_kind(bank_managed, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {"secretRef": {"name": "bank-managed"}} in env_from


def test_prometheus_rule_is_the_tested_rules_file_and_the_monitor_selects_both_jobs(
    helm: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    docs = render(helm)
    rule = by_kind(docs, "PrometheusRule")[0]
    assert rule["spec"] == yaml.safe_load(RULES.read_text(encoding="utf-8"))
    extracted = tmp_path / "rules.yml"
    extracted.write_text(yaml.safe_dump(rule["spec"]), encoding="utf-8")
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run `bash deploy/ops-tools.sh install`"
    checked = subprocess.run([promtool, "check", "rules", str(extracted)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    monitor = by_kind(docs, "ServiceMonitor")[0]["spec"]
    services = by_kind(docs, "Service")
    selected = [
        s
        for s in services
        if monitor["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
        and s["metadata"]["labels"][monitor["jobLabel"]] in monitor["selector"]["matchExpressions"][0]["values"]
    ]
    assert sorted(s["metadata"]["labels"]["txmon-job"] for s in selected) == ["txmon-console", "txmon-worker"]
    for s in selected:
        assert monitor["endpoints"][0]["port"] in {p["name"] for p in s["spec"]["ports"]}
    assert monitor["endpoints"][0]["path"] == "/metrics"
