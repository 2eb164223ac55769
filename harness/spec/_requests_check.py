"""The checks of a ``requests:`` table that need more than its shape: files, templates, secrets,
factories. Run once by ``load_scenario``, so a bad definition stops with exit 2 naming the file
and the field before anything starts.

Relative paths (data files, template files, body files, V2 input files, ``${file:...}``
secrets, a factory's folder) are resolved against the scenario file's folder and come back
absolute: generator processes (local workers) may run in another working directory.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import msgspec
import orjson

from harness.errors import SpecError
from harness.spec.records import RecordsError, read_records
from harness.spec.requests import SECRET_REF, BodySpec, DataFile, RequestSpec
from harness.spec.secrets import SecretError, resolve_value
from harness.spec.template import check_template

__all__ = ["import_factory", "prepare_headers", "prepare_requests", "read_v2_inputs"]


def prepare_headers(headers: dict[str, str], field: str, path: Path) -> dict[str, str]:
    """``headers`` with ``${file:...}`` made absolute, every secret checked (SpecError naming
    the header, never a value)."""
    out = {}
    for name, value in headers.items():
        value = SECRET_REF.sub(lambda m: _absolute_file_ref(m, path.parent), value)
        try:
            resolve_value(value)
        except SecretError as exc:
            raise SpecError(str(path), f"{field}.{name}", str(exc)) from None
        out[name] = value
    return out


def prepare_requests(requests: tuple[RequestSpec, ...], path: Path) -> tuple[RequestSpec, ...]:
    """``requests`` with paths made absolute, every reference checked (SpecError otherwise)."""
    return tuple(_prepare(r, f"$.requests[{i}]", path) for i, r in enumerate(requests))


def _prepare(request: RequestSpec, field: str, path: Path) -> RequestSpec:
    file, base = str(path), path.parent
    headers = prepare_headers(request.headers, f"{field}.headers", path)
    request = msgspec.structs.replace(request, headers=headers)
    if request.factory is not None:
        folder = str((base / (request.factory_path or ".")).resolve())
        try:
            import_factory(request.factory, folder)
        except (ImportError, AttributeError, TypeError) as exc:
            raise SpecError(file, f"{field}.factory", str(exc)) from None
        return msgspec.structs.replace(request, factory_path=folder)
    body = request.body
    if isinstance(body, BodySpec):
        body = _prepare_body(body, f"{field}.body", file, base)
        request = msgspec.structs.replace(request, body=body)
    return request


def _absolute_file_ref(match: object, base: Path) -> str:
    assert hasattr(match, "group")
    if match.group("kind") != "file":
        return str(match.group(0))
    return "${file:" + str((base / match.group("name")).resolve()) + "}"


def _existing(value: str, base: Path, file: str, field: str) -> str:
    resolved = (base / value).resolve()
    if not resolved.is_file():
        raise SpecError(file, field, f"an existing file (not found: {resolved})")
    return str(resolved)


def _prepare_body(body: BodySpec, field: str, file: str, base: Path) -> BodySpec:
    if body.file is not None:
        return msgspec.structs.replace(body, file=_existing(body.file, base, file, f"{field}.file"))
    if body.v2_infer is not None and body.v2_infer.inputs is not None:
        where = f"{field}.v2_infer.inputs"
        inputs = _existing(body.v2_infer.inputs, base, file, where)
        try:
            read_v2_inputs(Path(inputs))
        except ValueError as exc:
            raise SpecError(file, where, str(exc)) from None
        return msgspec.structs.replace(
            body, v2_infer=msgspec.structs.replace(body.v2_infer, inputs=inputs)
        )
    if body.template is None and body.template_file is None:
        return body
    columns: list[str] | None = None
    data = body.data
    if data is not None:
        data_path = (base / data.file).resolve()
        try:
            records = read_records(data_path)
        except RecordsError as exc:
            raise SpecError(file, f"{field}.data.file", str(exc)) from None
        columns = sorted({k for rec in records for k in rec})
        data = DataFile(file=str(data_path), order=data.order)
    source, where = body.template, f"{field}.template"
    template_file = body.template_file
    if template_file is not None:
        where = f"{field}.template_file"
        template_file = _existing(template_file, base, file, where)
        try:
            source = Path(template_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(file, where, f"a readable UTF-8 file ({exc})") from None
    assert source is not None
    problem = check_template(source, columns)
    if problem is not None:
        raise SpecError(file, where, problem)
    return msgspec.structs.replace(body, data=data, template_file=template_file)


def import_factory(reference: str, folder: str | None) -> object:
    """The callable ``module:function`` names; ``folder`` is put on ``sys.path`` first."""
    module_name, _, attr = reference.partition(":")
    if folder is not None and folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(
            f"an importable module {module_name!r} (from {folder or 'sys.path'}): {exc}"
        ) from None
    except Exception as exc:  # the user's module failed while importing
        raise ImportError(
            f"module {module_name!r} to import cleanly ({exc.__class__.__name__}: {exc})"
        ) from None
    function = getattr(module, attr, None)
    if function is None:
        raise AttributeError(f"a function {attr!r} in module {module_name!r}")
    if not callable(function):
        raise TypeError(f"{reference} to be callable")
    return function


def read_v2_inputs(path: Path) -> tuple[tuple[dict[str, object], ...], ...]:
    """The V2 ``inputs`` lists of a file: a JSON infer body, a JSON list of ``inputs`` lists, or
    JSONL (one infer body or ``inputs`` list per line). Each input needs name, shape, datatype,
    data."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"a readable UTF-8 file ({exc.__class__.__name__})") from None
    try:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            items = [orjson.loads(line) for line in text.splitlines() if line.strip()]
        else:
            doc = orjson.loads(text)
            items = doc if isinstance(doc, list) and doc and isinstance(doc[0], list) else [doc]
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"JSON or JSONL ({exc})") from None
    out = []
    for n, item in enumerate(items):
        inputs = item.get("inputs") if isinstance(item, dict) else item
        if not isinstance(inputs, list) or not inputs:
            raise ValueError(f"item {n}: a V2 body with inputs, or a list of inputs")
        for tensor in inputs:
            if not isinstance(tensor, dict) or not {"name", "shape", "datatype", "data"} <= set(
                tensor
            ):
                raise ValueError(f"item {n}: inputs with name, shape, datatype and data")
        out.append(tuple(inputs))
    if not out:
        raise ValueError("at least one set of inputs")
    return tuple(out)
