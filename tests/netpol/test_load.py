"""Loading manifests: strict schema, API-server checks, every problem with file, doc and path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from netpol_support import BASE, HARDENED, ISSUE, PODS, policy, write_docs

from harness.errors import ManifestError, SpecError
from harness.netpol import Direction, load_manifests, load_probe_pods


def test_reference_sets_validate_strictly() -> None:
    """The reference workloads and both policy sets pass kubernetes-validate strict + our checks."""
    hardened = load_manifests([BASE, HARDENED])
    issue = load_manifests([BASE, ISSUE], namespace="payments-pci")
    scorer = next(e for e in hardened.endpoints if e.ref == "payments-pci/reference-service")
    assert ("zone", "pci-restricted") in scorer.labels
    assert [(p.port, p.name) for p in scorer.ports] == [(8080, "http")]
    kinds = {e.workload_kind for e in hardened.endpoints}
    assert {"Deployment", "StatefulSet", "DaemonSet", "CronJob"} <= kinds
    (verbatim,) = issue.policies
    assert verbatim.ref == "payments-pci/pci-zone-isolation"
    assert verbatim.policy_types == frozenset({Direction.INGRESS})  # no policyTypes: Ingress only


def test_namespaces_carry_metadata_name_label() -> None:
    """Declared and merely referenced namespaces get kubernetes.io/metadata.name."""
    ms = load_manifests([BASE, HARDENED])
    pci = ms.namespace("payments-pci")
    assert pci is not None
    assert pci.label_map["kubernetes.io/metadata.name"] == "payments-pci"
    default = ms.namespace("default")
    assert default is not None
    assert not default.declared


def _spec(**ports: Any) -> dict[str, Any]:
    return {"podSelector": {}, "ingress": [{"ports": [ports]}]}


BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown field (strict)", {"podSelector": {}, "ingres": []}, "$.spec", "ingres"),
    (
        "endPort < port",
        _spec(port=8080, endPort=80),
        "$.spec.ingress[0].ports[0].endPort",
        "endPort >= port",
    ),
    (
        "endPort with named port",
        _spec(port="http", endPort=90),
        "$.spec.ingress[0].ports[0].endPort",
        "numeric port",
    ),
    (
        "endPort without port",
        _spec(endPort=90),
        "$.spec.ingress[0].ports[0].endPort",
        "numeric port",
    ),
    (
        "protocol ICMP",
        _spec(port=1, protocol="ICMP"),
        "$.spec.ingress[0].ports[0].protocol",
        "TCP, UDP, SCTP",
    ),
    ("bad port name", _spec(port="HTTP_1"), "$.spec.ingress[0].ports[0].port", "IANA"),
    (
        "policyTypes misspelled",
        {"podSelector": {}, "policyTypes": ["ingress"]},
        "$.spec.policyTypes[0]",
        "Ingress or Egress",
    ),
    (
        "ipBlock with podSelector",
        {
            "podSelector": {},
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}],
        },
        "$.spec.ingress[0].from[0]",
        "ipBlock alone",
    ),
    (
        "except outside cidr",
        {
            "podSelector": {},
            "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}}]}],
        },
        "$.spec.egress[0].to[0].ipBlock.except[0]",
        "inside cidr",
    ),
    (
        "except equal to cidr",
        {
            "podSelector": {},
            "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}}]}],
        },
        "$.spec.egress[0].to[0].ipBlock.except[0]",
        "strict subset",
    ),
    (
        "bad cidr",
        {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.300/8"}}]}]},
        "$.spec.egress[0].to[0].ipBlock.cidr",
        "CIDR",
    ),
    (
        "In without values",
        {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]}},
        "$.spec.podSelector.matchExpressions[0].values",
        "at least one value",
    ),
    (
        "empty peer",
        {"podSelector": {}, "ingress": [{"from": [{}]}]},
        "$.spec.ingress[0].from[0]",
        "one of podSelector",
    ),
]


@pytest.mark.parametrize(
    ("spec", "path", "expected"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_policy_names_file_document_and_field(
    tmp_path: Path, spec: dict[str, Any], path: str, expected: str
) -> None:
    """Each API-server-refused policy is a ManifestError at file, doc[N] and the field path."""
    file = write_docs(tmp_path / "p.yaml", [policy("ok", {"podSelector": {}}), policy("bad", spec)])
    with pytest.raises(ManifestError) as info:
        load_manifests([file])
    text = str(info.value)
    assert f"{file}: doc[1] {path}" in text, text
    assert expected in text


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Problems in several documents and files are all listed, one per line."""
    one = write_docs(tmp_path / "one.yaml", [policy("a", _spec(port=9, endPort=1))])
    two = write_docs(
        tmp_path / "two.yaml", [policy("b", {"podSelector": {}, "policyTypes": ["Egres"]})]
    )
    with pytest.raises(ManifestError) as info:
        load_manifests([one, two])
    assert len(info.value.problems) == 2
    assert str(one) in str(info.value)
    assert str(two) in str(info.value)


def test_duplicate_and_malformed_documents(tmp_path: Path) -> None:
    """Duplicate names, documents without kind and YAML syntax errors are problems too."""
    dup = write_docs(
        tmp_path / "dup.yaml", [policy("x", {"podSelector": {}}), policy("x", {"podSelector": {}})]
    )
    with pytest.raises(ManifestError, match=r"doc\[1\] \$\.metadata\.name: a unique name"):
        load_manifests([dup])
    nokind = tmp_path / "nokind.yaml"
    nokind.write_text("metadata: {name: x}\n")
    with pytest.raises(ManifestError, match=r"doc\[0\] \$: an object with apiVersion and kind"):
        load_manifests([nokind])
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [\n")
    with pytest.raises(ManifestError, match="valid YAML"):
        load_manifests([broken])
    with pytest.raises(SpecError, match="not found"):
        load_manifests([tmp_path / "missing.yaml"])


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    """A kind Kubernetes does not know (a typo, a CRD) is named, not skipped silently."""
    file = write_docs(
        tmp_path / "crd.yaml", [{"apiVersion": "v1", "kind": "Podd", "metadata": {"name": "x"}}]
    )
    with pytest.raises(ManifestError, match=r"doc\[0\] \$\.kind"):
        load_manifests([file])


def test_pods_file(tmp_path: Path) -> None:
    """The reference pods file loads; a bad one names the field."""
    pods = load_probe_pods(PODS)
    assert {e.ref for e in pods.endpoints} >= {"kube-system/kube-dns", "external/internet"}
    bad = tmp_path / "pods.yaml"
    bad.write_text("external: [{name: x, ip: not-an-ip}]\n")
    with pytest.raises(SpecError, match=r"\$\.external\[0\]\.ip"):
        load_probe_pods(bad)
    bad.write_text("pods: [{name: x, colour: red}]\n")
    with pytest.raises(SpecError, match="colour"):
        load_probe_pods(bad)


@pytest.mark.root
def test_validation_needs_no_network() -> None:
    """The strict schema check runs inside an empty network namespace (bundled schemas only)."""
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) from util-linux")
    code = (
        "from pathlib import Path; from harness.netpol import load_manifests; "
        f"ms = load_manifests([Path({str(BASE)!r}), Path({str(HARDENED)!r})]); "
        "print(len(ms.policies))"
    )
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "5"
