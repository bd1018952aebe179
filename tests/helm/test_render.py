"""The rendered chart, per values case: valid Kubernetes objects, restricted pods, least privilege, no secrets,
and the hpoctl-specific contents (katib-config entry, hpoctl.yaml node pools, NOTES)."""

from __future__ import annotations

import re

import pytest
import yaml

from .conftest import CASES, CHART, NAMESPACE, RELEASE, values_of
from .pod_security import hardening_violations, namespace_violations, pod_spec, restricted_violations

kubernetes_validate = pytest.importorskip("kubernetes_validate")

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest the validator knows.
K8S_VERSIONS = ("1.27.0", kubernetes_validate.latest_version())
CLUSTER_SCOPED = {"Namespace", "PriorityClass", "ClusterRole", "ClusterRoleBinding", "StorageClass"}
REQUIRED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
SECRETISH = re.compile(r"password|secret|token|credential|api_?key|private_?key", re.IGNORECASE)
STOCK_KATIB_ALGORITHMS = {
    "random",
    "tpe",
    "grid",
    "hyperband",
    "bayesianoptimization",
    "cmaes",
    "sobol",
    "multivariate-tpe",
    "enas",
    "darts",
    "pbt",
}


def study_namespace(values: dict) -> str:
    return values["namespace"]["name"] or NAMESPACE


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize("k8s_version", K8S_VERSIONS)
def test_objects_pass_kubernetes_validate_strict(helm, case, k8s_version):
    name, values = case.name, case.files
    docs = helm.documents(*values)
    assert docs, f"{name}: nothing rendered"
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, k8s_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']} is invalid for {k8s_version}: {e.message}")


def test_every_pod_is_restricted_and_hardened(helm, case):
    name, values = case.name, case.files
    pods = [(d, pod_spec(d)) for d in helm.documents(*values) if pod_spec(d) is not None]
    if name == "full-values":
        assert pods, "the full case renders the data-preparation Job"
    for doc, spec in pods:
        problems = restricted_violations(spec) + hardening_violations(spec)
        assert not problems, f"{name}: {doc['kind']}/{doc['metadata']['name']}: " + "; ".join(problems)


def test_created_namespace_enforces_pod_security_and_katib_injection(helm, case):
    files, values = case.files, case.values
    namespaces = by_kind(helm.documents(*files), "Namespace")
    if not values["namespace"]["create"]:
        assert namespaces == []
        return
    (ns,) = namespaces
    assert ns["metadata"]["name"] == values["namespace"]["name"] != NAMESPACE
    assert namespace_violations(ns, values["namespace"]["podSecurity"]["level"]) == []
    labels = ns["metadata"]["labels"]
    injection = labels.get("katib.kubeflow.org/metrics-collector-injection")
    assert injection == ("enabled" if values["namespace"]["katibInjection"] else None)


def test_default_namespace_passes_restricted(helm):
    doc = helm.documents(sets=("namespace.create=true", "namespace.name=hpo-studies"))
    (ns,) = by_kind(doc, "Namespace")
    assert namespace_violations(ns, "restricted") == []
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"] == "latest"


def test_labels_and_selectors(helm, case):
    name, values = case.name, case.files
    for doc in helm.documents(*values):
        labels = doc["metadata"].get("labels") or {}
        missing = [k for k in REQUIRED_LABELS if k not in labels]
        assert not missing, f"{name}: {doc['kind']}/{doc['metadata']['name']} lacks labels {missing}"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        spec = doc.get("spec") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        pod_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        assert "helm.sh/chart" not in selector and "helm.sh/chart" not in pod_labels, (
            f"{name}: {doc['kind']}/{doc['metadata']['name']} puts helm.sh/chart in a selector"
        )


def test_objects_land_in_the_study_namespace(helm, case):
    name, files, values = case.name, case.files, case.values
    for doc in helm.documents(*files):
        where = doc["metadata"].get("namespace")
        if doc["kind"] in CLUSTER_SCOPED:
            assert where is None, f"{name}: cluster-scoped {doc['kind']} has a namespace"
        elif doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == values["katib"]["configMapName"]:
            assert where == values["katib"]["namespace"]
        else:
            assert where == study_namespace(values), f"{name}: {doc['kind']}/{doc['metadata']['name']} in {where}"


def test_nothing_cluster_wide_by_default(helm):
    kinds = {d["kind"] for d in helm.documents()}
    assert not kinds & CLUSTER_SCOPED, f"cluster-scoped objects by default: {kinds & CLUSTER_SCOPED}"


def test_priority_class_is_opt_in_and_never_global_default(helm, case):
    files, values = case.files, case.values
    classes = by_kind(helm.documents(*files), "PriorityClass")
    assert len(classes) == int(values["priorityClass"]["create"])
    for pc in classes:
        assert pc["globalDefault"] is False
        assert pc["value"] <= 1_000_000_000


def test_rbac_is_namespaced_and_least_privilege(helm, case):
    files, values = case.files, case.values
    docs = helm.documents(*files)
    assert not by_kind(docs, "ClusterRole") and not by_kind(docs, "ClusterRoleBinding")
    roles = by_kind(docs, "Role")
    if not values["rbac"]["create"]:
        assert roles == []
        return
    (role,) = roles
    grants = {}
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants[(group, resource)] = set(rule["verbs"])
    assert grants.pop(("kubeflow.org", "experiments")) == {"get", "list", "watch", "create", "patch", "delete"}
    for read_only in [("kubeflow.org", "trials"), ("kubeflow.org", "suggestions"), ("", "pods"), ("", "pods/log")]:
        assert grants.pop(read_only) == {"get", "list", "watch"}
    assert grants.pop(("batch", "jobs")) == {"get", "list", "watch"}
    assert grants.pop(("", "events")) == {"get", "list", "watch"}
    if values["cliConfig"]["enabled"]:
        assert grants.pop(("", "configmaps")) == {"get"}
        (cm_rule,) = [r for r in role["rules"] if "configmaps" in r["resources"]]
        assert cm_rule["resourceNames"] == [values["cliConfig"]["name"]]
    assert grants == {}, f"unexpected grants: {grants}"
    bindings = by_kind(docs, "RoleBinding")
    assert len(bindings) == int(bool(values["rbac"]["subjects"]))
    for binding in bindings:
        role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
        assert binding["roleRef"] == role_ref
        assert [(s["kind"], s["name"]) for s in binding["subjects"]] == [
            (s["kind"], s["name"]) for s in values["rbac"]["subjects"]
        ]


def test_no_secret_values_anywhere(helm, case):
    name, files = case.name, case.files
    docs = helm.documents(*files)
    assert not by_kind(docs, "Secret")
    for doc in docs:
        spec = pod_spec(doc)
        for c in (spec or {}).get("containers", []):
            for env in c.get("env") or []:
                if "value" in env:
                    assert not SECRETISH.search(env["name"]), f"{name}: env {env['name']} carries a plain value"
    secret_refs = [
        env["valueFrom"]["secretKeyRef"]
        for doc in docs
        for c in (pod_spec(doc) or {}).get("containers", [])
        for env in c.get("env") or []
        if "valueFrom" in env
    ]
    values = values_of(files)
    if values["dataPrep"]["enabled"]:
        assert [(r["name"], r["key"]) for r in secret_refs] == [(s["secretName"], s["key"]) for s in values["secrets"]]


def test_service_account_has_no_token(helm, case):
    files, values = case.files, case.values
    accounts = by_kind(helm.documents(*files), "ServiceAccount")
    assert len(accounts) == int(values["serviceAccount"]["create"])
    for sa in accounts:
        assert sa["automountServiceAccountToken"] is False
        assert sa.get("imagePullSecrets", []) == values["imagePullSecrets"]


def test_claims(helm, case):
    files, values = case.files, case.values
    docs = helm.documents(*files)
    claims = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in by_kind(docs, "PersistentVolumeClaim")}
    for key in ("data", "cache", "results"):
        p = values["persistence"][key]
        if not p["enabled"] or p["existingClaim"]:
            assert key not in claims
            continue
        spec = claims[key]["spec"]
        assert spec["accessModes"] == p["accessModes"]
        assert spec["resources"]["requests"]["storage"] == p["size"]
        storage_class = p.get("storageClass")
        if storage_class is None:
            assert "storageClassName" not in spec
        else:
            assert spec["storageClassName"] == ("" if storage_class == "-" else storage_class)
        kept = (claims[key]["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") == "keep"
        assert kept == p["keep"]
    for job in by_kind(docs, "Job"):
        spec = pod_spec(job)
        mounted = {v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
        for key in ("data", "cache"):
            p = values["persistence"][key]
            if p["enabled"]:
                assert (p["existingClaim"] or f"{claims[key]['metadata']['name']}") in mounted


def test_gpu_quota(helm, case):
    files, values = case.files, case.values
    quotas = by_kind(helm.documents(*files), "ResourceQuota")
    if not values["gpuQuota"]["enabled"]:
        assert quotas == []
        return
    (quota,) = quotas
    hard = quota["spec"]["hard"]
    assert hard.pop(f"requests.{values['gpuQuota']['resourceName']}") == str(values["gpuQuota"]["gpus"])
    assert hard == {k: str(v) for k, v in values["gpuQuota"]["extraHard"].items()}


def test_data_prep_job(helm, case):
    files, values = case.files, case.values
    jobs = by_kind(helm.documents(*files), "Job")
    if not values["dataPrep"]["enabled"]:
        assert jobs == []
        return
    (job,) = jobs
    assert len(job["metadata"]["name"]) <= 63
    spec = pod_spec(job)
    (container,) = spec["containers"]
    assert container["command"] == values["dataPrep"]["command"]
    assert container.get("args", []) == values["dataPrep"]["args"]
    pool = values["dataPrep"]["nodePool"]
    if pool:
        assert spec["nodeSelector"] == values["nodePools"][pool]["nodeSelector"]
        assert spec["tolerations"] == values["nodePools"][pool]["tolerations"]
    else:
        assert "nodeSelector" not in spec and "tolerations" not in spec


def test_data_prep_job_name_follows_its_spec(helm):
    """Jobs are immutable: a changed command gets a new name, an unchanged one keeps it."""
    base = ("dataPrep.enabled=true", "dataPrep.command={python,-m,prep}")
    name = by_kind(helm.documents(sets=base), "Job")[0]["metadata"]["name"]
    again = by_kind(helm.documents(sets=(*base, "dataPrep.backoffLimit=5")), "Job")[0]["metadata"]["name"]
    changed = by_kind(helm.documents(sets=(*base, "dataPrep.args={--fast}")), "Job")[0]["metadata"]["name"]
    assert name == again != changed


def cli_config(docs: list[dict], values: dict) -> dict | None:
    maps = [d for d in by_kind(docs, "ConfigMap") if "hpoctl.yaml" in d.get("data", {})]
    if not values["cliConfig"]["enabled"]:
        assert maps == []
        return None
    (cm,) = maps
    assert cm["metadata"]["name"] == values["cliConfig"]["name"]
    return yaml.safe_load(cm["data"]["hpoctl.yaml"])


def snake_toleration(t: dict) -> dict:
    return {("toleration_seconds" if k == "tolerationSeconds" else k): v for k, v in t.items()}


def test_cli_config_holds_the_node_pools_and_katib_settings(helm, case):
    """hpoctl.yaml is the chart's nodePools field for field (snake_case) plus what the release created."""
    values = case.values
    config = cli_config(helm.documents(*case.files), values)
    if config is None:
        return
    expected_pools = {}
    for pool, p in values["nodePools"].items():
        expected_pools[pool] = {
            "node_selector": p.get("nodeSelector", {}),
            "tolerations": [snake_toleration(t) for t in p.get("tolerations", [])],
            "gpu_resource": p.get("gpuResource", "nvidia.com/gpu"),
        }
        if p.get("description"):
            expected_pools[pool]["description"] = p["description"]
    assert config["node_pools"] == expected_pools
    katib = config["katib"]
    assert katib["namespace"] == study_namespace(values)
    claims = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d["metadata"]["name"]
        for d in by_kind(helm.documents(*case.files), "PersistentVolumeClaim")
    }
    for key in ("data", "cache", "results"):
        p = values["persistence"][key]
        assert katib[f"{key}_mount"] == p["mountPath"]
        assert katib[f"{key}_pvc"] == ((p["existingClaim"] or claims[key]) if p["enabled"] else None)
    assert katib["secret_env"] == {
        s["name"]: {"secret": s["secretName"], "key": s["key"], "optional": s.get("optional", False)}
        for s in values["secrets"]
    }
    assert katib["image_pull_secrets"] == [s["name"] for s in values["imagePullSecrets"]]
    assert (katib["run_as_user"], katib["run_as_group"]) == (values["runAs"]["user"], values["runAs"]["group"])
    assert katib["suggestions"] == [values["katib"]["suggestion"]["algorithmName"]]
    accounts = by_kind(helm.documents(*case.files), "ServiceAccount")
    assert katib["service_account"] == (
        accounts[0]["metadata"]["name"] if accounts else values["serviceAccount"]["name"] or None
    )


def test_cli_config_loads_with_hpoctl(helm, case):
    """The CLI reads the rendered hpoctl.yaml, and its node pools give back the chart's scheduling fields."""
    config_module = pytest.importorskip("hpoctl.config")
    raw = cli_config(helm.documents(*case.files), case.values)
    if raw is None:
        return
    config = config_module.parse_config(raw, f"hpoctl.yaml rendered for {case.name}")
    for name, pool in case.values["nodePools"].items():
        loaded = config.node_pool(name)
        assert loaded.node_selector == pool.get("nodeSelector", {})
        assert [t.to_k8s() for t in loaded.tolerations] == pool.get("tolerations", [])
        assert loaded.gpu_resource == pool.get("gpuResource", "nvidia.com/gpu")


def katib_config(docs: list[dict], values: dict) -> dict:
    (cm,) = [
        d
        for d in by_kind(docs, "ConfigMap")
        if d["metadata"]["name"] == values["katib"]["configMapName"]
        and d["metadata"]["namespace"] == values["katib"]["namespace"]
    ]
    assert cm["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    return yaml.safe_load(cm["data"]["katib-config.yaml"])


def test_managed_katib_config(helm, case):
    files, values = case.files, case.values
    docs = helm.documents(*files)
    if not values["katib"]["manageConfig"]:
        assert not [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == values["katib"]["configMapName"]]
        return
    config = katib_config(docs, values)
    assert config["apiVersion"] == "config.kubeflow.org/v1beta1" and config["kind"] == "KatibConfig"
    suggestions = config["runtime"]["suggestions"]
    ours = [s for s in suggestions if s["algorithmName"] == values["katib"]["suggestion"]["algorithmName"]]
    assert len(ours) == 1, "exactly one hpoctl-optuna entry (a stale one in the base config is replaced)"
    images = values["images"]["suggestion"]
    assert ours[0]["image"] == f"{images['repository']}:{images['tag'] or '0.1.0'}"
    if not values["katib"]["baseConfig"]:
        assert {s["algorithmName"] for s in suggestions} == STOCK_KATIB_ALGORITHMS | {"hpoctl-optuna"}
        assert config["runtime"]["earlyStoppings"][0]["algorithmName"] == "medianstop"
    inject = config["init"]["controller"].get("injectSecurityContext", False)
    assert inject is values["katib"]["injectSecurityContext"]
    for entry in suggestions:
        pod = {"containers": [suggestion_container(entry)]}
        hardened = entry is ours[0] or values["katib"]["hardenStockSuggestions"]
        assert (restricted_violations(pod) == []) is hardened, f"{entry['algorithmName']} restricted: {hardened}"


def suggestion_container(entry: dict) -> dict:
    """The corev1.Container Katib's SuggestionConfig inlines (its other fields are Katib's own)."""
    katib_only = ("algorithmName", "volumeMountPath", "persistentVolumeClaimSpec", "persistentVolumeSpec")
    katib_only += ("persistentVolumeLabels", "serviceAccountName")
    return {"name": "suggestion", **{k: v for k, v in entry.items() if k not in katib_only}}


def suggestion_entry(helm, *files, sets=()) -> dict:
    values = values_of(files)
    docs = helm.documents(*files, sets=("katib.manageConfig=true", *sets))
    suggestions = katib_config(docs, values)["runtime"]["suggestions"]
    (entry,) = [s for s in suggestions if s["algorithmName"] == "hpoctl-optuna"]
    return entry


def test_suggestion_entry_is_a_valid_restricted_container(helm):
    """Katib's SuggestionConfig inlines a corev1.Container: validate it as one, in a restricted pod."""
    entry = suggestion_entry(helm)
    container = suggestion_container(entry)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "s"}, "spec": {"containers": [container]}}
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "s"}}
    claim["spec"] = entry["persistentVolumeClaimSpec"]
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(pod, version, strict=True)
        kubernetes_validate.validate(claim, version, strict=True)
    assert restricted_violations(pod["spec"]) == []
    assert entry["volumeMountPath"].startswith("/")


def test_katib_config_patch_example_matches_the_chart(helm):
    """files/katib-config-patch.yaml is what the chart renders with its default values."""
    patch = yaml.safe_load((CHART / "files" / "katib-config-patch.yaml").read_text())
    assert patch["init"] == {"controller": {"injectSecurityContext": True}}
    assert patch["runtime"]["suggestions"] == [suggestion_entry(helm)]


def test_shipped_katib_base_config_is_katib_v0_19_0():
    from pathlib import Path

    reference = Path("/work/shared/katib-reference/katib-config.standalone.v0.19.0.yaml")
    shipped = yaml.safe_load((CHART / "files" / "katib-config.v0.19.0.yaml").read_text())
    if reference.exists():
        assert shipped == yaml.safe_load(reference.read_text())
    assert {s["algorithmName"] for s in shipped["runtime"]["suggestions"]} == STOCK_KATIB_ALGORITHMS


def test_notes_tell_the_next_commands(helm, case, tmp_path):
    files, values = case.files, case.values
    ns = study_namespace(values)
    notes = helm.notes(tmp_path, *files)
    assert f"hpoctl launch everest --target M_24h --backend katib --namespace {ns}" in notes
    assert f"kubectl get experiments,trials -n {ns} -l hpoctl.io/study=everest" in notes
    if not values["katib"]["manageConfig"]:
        block = notes.split("edit configmap", 1)[1].split("\n3.", 1)[0]
        entry = yaml.safe_load(block.split("\n", 1)[1])
        assert entry == [suggestion_entry(helm, *files)]
    if not values["namespace"]["create"]:
        assert f"kubectl label namespace {ns}" in notes
        assert "katib.kubeflow.org/metrics-collector-injection=enabled" in notes
    if values["cliConfig"]["enabled"]:
        assert f"get configmap {values['cliConfig']['name']}" in notes


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("namespace.create=true",), "namespace.create=true needs namespace.name"),
        (("namespace.create=true", f"namespace.name={NAMESPACE}"), "namespace.create=true needs namespace.name"),
        (("dataPrep.enabled=true", "dataPrep.command={prep}", "dataPrep.nodePool=a100"), "dataPrep.nodePool"),
        (("katib.manageConfig=true", "katib.baseConfig=[1]"), "katib.baseConfig"),
    ],
    ids=["create-without-name", "create-release-namespace", "unknown-node-pool", "base-config-not-a-map"],
)
def test_template_rejects_inconsistent_values(helm, sets, message):
    result = helm.template(sets=sets, check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_cases_cover_the_ci_folder():
    assert set(CASES) == {"default"} | {p.stem for p in (CHART / "ci").glob("*.yaml")}
