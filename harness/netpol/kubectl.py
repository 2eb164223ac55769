"""``--kubeconfig`` mode: probe a real cluster the cyclonus way, through ``kubectl exec``.

For each flow the prober finds a running pod of the source workload (``kubectl get pods -n NS -l
<the workload's template labels> -o json``) and of the destination (for its pod IP; an external
endpoint uses its declared IP), then runs ``agnhost connect IP:PORT --timeout=Ns
--protocol=tcp|udp|sctp`` in the source pod's ``probe`` container. agnhost (the Kubernetes e2e
image, ``registry.k8s.io/e2e-test-images/agnhost``) exits 0 on a connection and prints
``TIMEOUT``/``REFUSED`` on failure; anything else (kubectl could not exec, no pod) is an
``error``, never "blocked": a broken probe must not read as isolation.

What the cluster needs (docs: README "PCI segmentation evidence"): each workload under test has
a ``probe`` container running agnhost (``agnhost pause``; or look-alike probe pods carrying the
same labels), and destinations serve their ports (``agnhost serve-hostname --port N``; UDP needs
``--udp`` so the probe gets an echo: a UDP send alone proves nothing). The prober only reads and
execs: it creates nothing in the cluster. Retries, the positive control and timestamps are
:func:`harness.netpol.probe_flows`'s job.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.netpol.model import Endpoint, Protocol
from harness.netpol.probe import Observation

__all__ = ["KubectlProber"]

Runner = Callable[[Sequence[str], float], subprocess.CompletedProcess[str]]


def _run(argv: Sequence[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout_s, check=False
    )


class KubectlProber:
    """A :class:`~harness.netpol.Prober` over ``kubectl`` (one exec per try)."""

    def __init__(
        self,
        kubeconfig: Path | None = None,
        *,
        kubectl: str = "kubectl",
        container: str = "probe",
        agnhost: str = "/agnhost",
        margin_s: float = 10.0,
        runner: Runner = _run,
    ) -> None:
        self.base = [kubectl] + ([f"--kubeconfig={kubeconfig}"] if kubeconfig else [])
        self.container = container
        self.agnhost = agnhost
        self.margin_s = margin_s
        self.runner = runner
        self._pods: dict[str, tuple[str, str] | None] = {}

    def _pod(self, endpoint: Endpoint) -> tuple[str, str] | None:
        """(pod name, pod IP) of a running pod of ``endpoint``, cached; None if there is none."""
        if endpoint.ref in self._pods:
            return self._pods[endpoint.ref]
        selector = ",".join(f"{k}={v}" for k, v in endpoint.labels)
        argv = [*self.base, "get", "pods", "-n", endpoint.namespace, "-o", "json"]
        if selector:
            argv += ["-l", selector]
        found: tuple[str, str] | None = None
        try:
            proc = self.runner(argv, self.margin_s)
            if proc.returncode == 0:
                for item in json.loads(proc.stdout).get("items", []):
                    status = item.get("status") or {}
                    if status.get("phase") == "Running" and status.get("podIP"):
                        found = (item["metadata"]["name"], status["podIP"])
                        break
        except (subprocess.TimeoutExpired, OSError, ValueError, KeyError):
            found = None
        self._pods[endpoint.ref] = found
        return found

    def connect(
        self, src: Endpoint, dst: Endpoint, port: int, protocol: Protocol, timeout_s: float
    ) -> tuple[Observation, str]:
        """One ``kubectl exec ... agnhost connect`` from ``src`` to ``dst``."""
        source = self._pod(src)
        if source is None:
            return Observation.ERROR, f"no running pod for {src.ref}"
        if dst.is_pod:
            target = self._pod(dst)
            if target is None:
                return Observation.ERROR, f"no running pod for {dst.ref}"
            ip = target[1]
        else:
            ip = str(dst.ip)
        host = f"[{ip}]" if ":" in ip else ip
        argv = [
            *self.base,
            "exec",
            "-n",
            src.namespace,
            source[0],
            "-c",
            self.container,
            "--",
            self.agnhost,
            "connect",
            f"{host}:{port}",
            f"--timeout={timeout_s:g}s",
            f"--protocol={protocol.value.lower()}",
        ]
        try:
            proc = self.runner(argv, timeout_s + self.margin_s)
        except subprocess.TimeoutExpired:
            return Observation.ERROR, "kubectl exec did not return in time"
        except OSError as exc:
            return Observation.ERROR, f"kubectl could not run: {exc.strerror}"
        if proc.returncode == 0:
            return Observation.ALLOWED, "connected"
        text = (proc.stderr + proc.stdout).strip()
        for word in ("TIMEOUT", "REFUSED"):
            if word in text:
                return Observation.BLOCKED, word.lower()
        return Observation.ERROR, text.splitlines()[-1] if text else f"exit {proc.returncode}"
