"""From a fault spec (``harness.spec.faults``) to a :class:`~harness.chaos.fault.Fault`.

Why a registry: the game-day runner must not know how a proxy toxic, a SIGSTOP or an nft drop
rule is built; each fault's module registers a *builder* for its ``kind`` here, next to the
fault's code, and the runner only asks ``FAULT_FACTORY.build(spec, context)``. A kind nobody
registered fails before any load starts (``FaultError``, exit 3), naming the kinds that are
available in this build.

Some faults need the run laid out differently, not only an action at their time: a proxy fault
needs the proxy *in the path* for the whole run (the load targets the proxy, or the service talks
to its feature store through it), a network fault needs the generator and the service in their
namespaces. Such a kind names an *environment*; the module that provides it registers a setup
function: a context manager that takes the :class:`FaultContext` and yields an amended one (a new
target URL, extra service arguments, handles the builders need in ``resources``). Environments
run in two stages: ``BEFORE_SERVICE`` (may add service arguments, e.g. ``--redis-url`` of a proxy
in front of Redis) and ``AFTER_SERVICE`` (may replace the target URL, e.g. a proxy in front of the
service). Every environment a game day needs is entered once, in registration order, and left in
reverse order whatever happens.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace

from harness.chaos.fault import Fault
from harness.errors import FaultError
from harness.spec import FaultSpec

__all__ = [
    "FAULT_FACTORY",
    "EnvironmentOf",
    "EnvironmentSetup",
    "FaultBuilder",
    "FaultContext",
    "FaultFactory",
    "Stage",
]


class Stage(enum.Enum):
    """When an environment is set up relative to the (embedded) service's start."""

    BEFORE_SERVICE = "before_service"
    AFTER_SERVICE = "after_service"


@dataclass(frozen=True, slots=True)
class FaultContext:
    """What builders and environments know about the system under test.

    ``target_url`` is where the load goes (None before the service started); ``service_pid`` the
    service's main process when the harness launched it; ``service_args`` extra arguments for
    the embedded service; ``resources`` handles environments publish for builders (by name).
    """

    target_url: str | None = None
    service_pid: int | None = None
    started_by_harness: bool = False
    service_args: tuple[str, ...] = ()
    resources: Mapping[str, object] = field(default_factory=dict)

    def with_resource(self, name: str, value: object) -> FaultContext:
        """A copy with ``resources[name] = value``."""
        return replace(self, resources={**self.resources, name: value})

    def resource(self, name: str, kind: str) -> object:
        """``resources[name]`` or a FaultError saying which fault needed it."""
        try:
            return self.resources[name]
        except KeyError:
            raise FaultError(f"{kind}: needs {name!r}, which no environment provided") from None


FaultBuilder = Callable[[FaultSpec, FaultContext], Fault]
EnvironmentSetup = Callable[[FaultContext], AbstractContextManager[FaultContext]]
#: The environment a kind needs: a name, a function of the spec (a proxy fault's ``target``
#: decides which proxy), or None.
EnvironmentOf = str | Callable[[FaultSpec], str | None] | None


@dataclass(frozen=True, slots=True)
class _Kind:
    builder: FaultBuilder
    environment: EnvironmentOf

    def environment_of(self, spec: FaultSpec) -> str | None:
        env = self.environment
        return env(spec) if callable(env) else env


@dataclass(frozen=True, slots=True)
class _Environment:
    stage: Stage
    setup: EnvironmentSetup


class FaultFactory:
    """The registry of fault builders and environments; see the module docstring."""

    def __init__(self) -> None:
        self._kinds: dict[str, _Kind] = {}
        self._environments: dict[str, _Environment] = {}

    def register(
        self, kind: str, builder: FaultBuilder, *, environment: EnvironmentOf = None
    ) -> None:
        """Build faults of ``kind`` with ``builder`` (last registration wins)."""
        self._kinds[kind] = _Kind(builder, environment)

    def register_environment(self, name: str, stage: Stage, setup: EnvironmentSetup) -> None:
        """Provide the environment ``name`` (last registration wins)."""
        self._environments[name] = _Environment(stage, setup)

    @property
    def kinds(self) -> AbstractSet[str]:
        """Kinds that have a builder in this process."""
        return self._kinds.keys()

    def check(self, specs: Iterable[FaultSpec]) -> None:
        """FaultError unless every spec has a builder and its environment is provided."""
        for spec in specs:
            entry = self._kinds.get(spec.kind)
            if entry is None:
                available = ", ".join(sorted(self._kinds)) or "none"
                raise FaultError(
                    f"fault kind {spec.kind!r} cannot be injected by this build "
                    f"(available: {available})"
                )
            env = entry.environment_of(spec)
            if env is not None and env not in self._environments:
                raise FaultError(
                    f"fault kind {spec.kind!r} needs the {env!r} environment, "
                    "which this build does not provide"
                )

    def environment_of(self, spec: FaultSpec) -> str | None:
        """The environment ``spec``'s kind needs (None: none, or the kind is not registered)."""
        entry = self._kinds.get(spec.kind)
        return None if entry is None else entry.environment_of(spec)

    def build(self, spec: FaultSpec, context: FaultContext) -> Fault:
        """A fault for ``spec`` (not injected yet)."""
        self.check((spec,))
        return self._kinds[spec.kind].builder(spec, context)

    @contextlib.contextmanager
    def environment(
        self, specs: Iterable[FaultSpec], context: FaultContext, stage: Stage
    ) -> Iterator[FaultContext]:
        """Enter every environment of ``stage`` that ``specs`` need; yield the amended context."""
        wanted = {self._kinds[s.kind].environment_of(s) for s in specs if s.kind in self._kinds}
        with contextlib.ExitStack() as stack:
            for name, env in self._environments.items():
                if name in wanted and env.stage is stage:
                    context = stack.enter_context(env.setup(context))
            yield context


#: The process-wide registry the fault modules register into.
FAULT_FACTORY = FaultFactory()
