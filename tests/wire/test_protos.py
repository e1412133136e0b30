"""The wire contract: protos/playground.proto, the generated code in backtestester/rpc, wire-v1.md.

(a) Drift: regenerating with scripts/gen_protos.py gives byte for byte the committed files.
(b) Contract: every message, field (number, name, type, label) and RPC of
    ``shared/spec/wire-v1.md`` is in the generated descriptors, unchanged, and the original RPCs
    are unary. The comparison is also run on deliberately broken copies of the proto to show it
    catches a rename, renumbering, retyping, removal or label change.
(c) Additions: StreamTicks and StreamCandlesArrow exist and are server-streaming, CancelOrder is
    unary and last, and all have the documented messages; a small in-process server shows the generated stubs, health and
    reflection working together.

The spec is looked up at $BACKTESTESTER_WIRE_SPEC, else ../shared/spec/wire-v1.md next to the
repository, else shared/spec/wire-v1.md inside it. A missing spec fails (it is the contract).
"""
from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from backtestester.rpc import playground_pb2, playground_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
RPC_DIR = ROOT / "backtestester" / "rpc"
PROTO = ROOT / "protos" / "playground.proto"
GEN_SCRIPT = ROOT / "scripts" / "gen_protos.py"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
REGEN_HINT = "run `make protos` (scripts/gen_protos.py) and commit the regenerated backtestester/rpc/ files"

FDP = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    "double": FDP.TYPE_DOUBLE, "float": FDP.TYPE_FLOAT, "int32": FDP.TYPE_INT32,
    "int64": FDP.TYPE_INT64, "uint32": FDP.TYPE_UINT32, "uint64": FDP.TYPE_UINT64,
    "sint32": FDP.TYPE_SINT32, "sint64": FDP.TYPE_SINT64, "fixed32": FDP.TYPE_FIXED32,
    "fixed64": FDP.TYPE_FIXED64, "sfixed32": FDP.TYPE_SFIXED32, "sfixed64": FDP.TYPE_SFIXED64,
    "bool": FDP.TYPE_BOOL, "string": FDP.TYPE_STRING, "bytes": FDP.TYPE_BYTES,
}
WELL_KNOWN_IMPORTS = {"google/protobuf/timestamp.proto", "google/protobuf/duration.proto",
                      "google/protobuf/empty.proto"}


# --------------------------------------------------------------------------------------------- #
# The spec
# --------------------------------------------------------------------------------------------- #
def spec_path() -> Path:
    candidates = [Path(p) for p in [os.environ.get("BACKTESTESTER_WIRE_SPEC")] if p]
    candidates += [ROOT.parent / "shared" / "spec" / "wire-v1.md", ROOT / "shared" / "spec" / "wire-v1.md"]
    for c in candidates:
        if c.is_file():
            return c
    pytest.fail(f"wire-v1.md not found (looked at {', '.join(map(str, candidates))}); "
                "set BACKTESTESTER_WIRE_SPEC to its path")


@dataclass(frozen=True)
class SpecField:
    number: int
    name: str
    type: str   # as written: double, string, Bar, google.protobuf.Timestamp, map<string,Position>
    label: str  # "-", "optional" or "repeated"


@dataclass(frozen=True)
class Spec:
    package: str
    service: str
    rpcs: dict[str, tuple[str, str]]          # name -> (request, response), as written
    messages: dict[str, list[SpecField]]      # in the spec's order


_ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*([A-Za-z_][A-Za-z0-9_]*)\s*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*$")
_RPC_ROW = re.compile(r"^\|\s*([A-Za-z_]\w*)\s*\|\s*([\w.]+)\s*\|\s*([\w.]+)\s*\|\s*$")


def _table_lines(body: str) -> list[str]:
    """Table rows of a section, without the header and the |---| separator."""
    lines = [ln.strip() for ln in body.splitlines() if ln.strip().startswith("|")]
    return [ln for ln in lines[2:]] if len(lines) >= 2 else []


def parse_spec(text: str) -> Spec:
    m = re.search(r"^## service `(\w+)` \(proto package `(\w+)`\)\s*$", text, re.M)
    assert m, "wire-v1.md: no '## service `X` (proto package `y`)' heading"
    service, package = m.group(1), m.group(2)

    # Sections: "## ..." and "### ..." headings split the document.
    sections = re.split(r"^(#{2,3} .*)$", text, flags=re.M)
    heads = sections[1::2]
    bodies = sections[2::2]
    rpcs: dict[str, tuple[str, str]] = {}
    messages: dict[str, list[SpecField]] = {}
    for head, body in zip(heads, bodies):
        if head.startswith("## service"):
            header = [ln for ln in body.splitlines() if ln.strip().startswith("|")][0]
            assert re.sub(r"\s", "", header) == "|RPC|request|response|", f"unexpected service table header {header!r}"
            for ln in _table_lines(body):
                r = _RPC_ROW.match(ln)
                assert r, f"wire-v1.md service table: unparsed row {ln!r}"
                assert r.group(1) not in rpcs, f"duplicate RPC {r.group(1)}"
                rpcs[r.group(1)] = (r.group(2), r.group(3))
        elif head.startswith("### "):
            name = head[4:].strip()
            assert re.fullmatch(r"[A-Za-z_]\w*", name), f"wire-v1.md: odd message heading {head!r}"
            assert name not in messages, f"duplicate message {name}"
            rows = _table_lines(body)
            if not rows:
                assert "(no fields)" in body, f"wire-v1.md: message {name} has neither fields nor '(no fields)'"
                messages[name] = []
                continue
            header = [ln for ln in body.splitlines() if ln.strip().startswith("|")][0]
            assert re.sub(r"\s", "", header) == "|#|field|type|label|", f"{name}: unexpected header {header!r}"
            fields = []
            for ln in rows:
                r = _ROW.match(ln)
                assert r, f"wire-v1.md message {name}: unparsed row {ln!r}"
                label = r.group(4)
                assert label in ("-", "optional", "repeated"), f"{name}.{r.group(2)}: unknown label {label!r}"
                fields.append(SpecField(int(r.group(1)), r.group(2), re.sub(r"\s", "", r.group(3)), label))
            messages[name] = fields
    return Spec(package, service, rpcs, messages)


@pytest.fixture(scope="module")
def spec() -> Spec:
    return parse_spec(spec_path().read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------- #
# Comparing a compiled file descriptor with the spec
# --------------------------------------------------------------------------------------------- #
def _type_ref(spec_type: str, package: str) -> str:
    """The fully qualified type_name protoc records for a message type as the spec writes it."""
    return "." + (spec_type if "." in spec_type else f"{package}.{spec_type}")


def _check_type(where: str, spec_type: str, f: descriptor_pb2.FieldDescriptorProto, package: str) -> list[str]:
    if spec_type in SCALARS:
        if f.type != SCALARS[spec_type]:
            return [f"{where}: type is {FDP.Type.Name(f.type)}, spec says {spec_type}"]
        return []
    if f.type != FDP.TYPE_MESSAGE or f.type_name != _type_ref(spec_type, package):
        got = f.type_name.lstrip(".") if f.type == FDP.TYPE_MESSAGE else FDP.Type.Name(f.type)
        return [f"{where}: type is {got}, spec says {spec_type}"]
    return []


def contract_problems(fdp: descriptor_pb2.FileDescriptorProto, spec: Spec) -> list[str]:
    """Everything in ``fdp`` that differs from the spec (empty list: compatible)."""
    problems: list[str] = []
    pkg = spec.package
    if fdp.package != pkg:
        problems.append(f"package is {fdp.package!r}, spec says {pkg!r}")
    if fdp.syntax != "proto3":
        problems.append(f"syntax is {fdp.syntax!r}, expected proto3")
    missing_imports = WELL_KNOWN_IMPORTS - set(fdp.dependency)
    if missing_imports:
        problems.append(f"missing imports {sorted(missing_imports)}")

    msgs = {m.name: m for m in fdp.message_type}
    for mname, sfields in spec.messages.items():
        m = msgs.get(mname)
        if m is None:
            problems.append(f"message {mname} is missing")
            continue
        by_number = {f.number: f for f in m.field}
        nested = {n.name: n for n in m.nested_type}
        for sf in sfields:
            where = f"{mname}.{sf.name} (#{sf.number})"
            f = by_number.get(sf.number)
            if f is None:
                other = next((x for x in m.field if x.name == sf.name), None)
                problems.append(f"{where}: no field numbered {sf.number}"
                                + (f" (it is numbered {other.number})" if other else " (field removed)"))
                continue
            if f.name != sf.name:
                problems.append(f"{where}: field {sf.number} is named {f.name!r}")
            mm = re.fullmatch(r"map<(\w+),([\w.]+)>", sf.type)
            if mm:
                # A map is a repeated field of a nested *Entry message with map_entry set.
                entry = nested.get(f.type_name.rsplit(".", 1)[-1]) if f.type == FDP.TYPE_MESSAGE else None
                if (f.label != FDP.LABEL_REPEATED or entry is None or not entry.options.map_entry
                        or f.type_name != f".{pkg}.{mname}.{entry.name}"):
                    problems.append(f"{where}: is not a map, spec says {sf.type}")
                else:
                    kv = {x.number: x for x in entry.field}
                    if set(kv) != {1, 2}:
                        problems.append(f"{where}: malformed map entry")
                    else:
                        problems += _check_type(f"{where} map key", mm.group(1), kv[1], pkg)
                        problems += _check_type(f"{where} map value", mm.group(2), kv[2], pkg)
                if sf.label != "-":
                    problems.append(f"{where}: spec gives a map the label {sf.label!r}")
                continue
            problems += _check_type(where, sf.type, f, pkg)
            repeated = f.label == FDP.LABEL_REPEATED
            optional = f.proto3_optional
            if optional:
                # proto3 `optional` = presence through a synthetic one-field oneof.
                oneof_ok = (f.HasField("oneof_index") and f.oneof_index < len(m.oneof_decl)
                            and sum(1 for x in m.field if x.HasField("oneof_index")
                                    and x.oneof_index == f.oneof_index) == 1)
                if not oneof_ok:
                    problems.append(f"{where}: proto3_optional without its synthetic oneof")
            elif f.HasField("oneof_index"):
                problems.append(f"{where}: is in a real oneof, spec has no oneofs")
            got = "repeated" if repeated else "optional" if optional else "-"
            if got != sf.label:
                problems.append(f"{where}: label is {got!r}, spec says {sf.label!r}")
    return problems + _service_problems(fdp, spec)


def _service_problems(fdp: descriptor_pb2.FileDescriptorProto, spec: Spec) -> list[str]:
    """The spec's RPCs in ``fdp``'s service: present, with the spec's messages, unary."""
    problems: list[str] = []
    pkg = spec.package
    services = {s.name: s for s in fdp.service}
    svc = services.get(spec.service)
    if svc is None:
        return [f"service {spec.service} is missing"]
    methods = {m.name: m for m in svc.method}
    for rpc, (req, resp) in spec.rpcs.items():
        m = methods.get(rpc)
        if m is None:
            problems.append(f"rpc {rpc} is missing")
            continue
        if m.input_type != _type_ref(req, pkg):
            problems.append(f"rpc {rpc}: request is {m.input_type.lstrip('.')}, spec says {req}")
        if m.output_type != _type_ref(resp, pkg):
            problems.append(f"rpc {rpc}: response is {m.output_type.lstrip('.')}, spec says {resp}")
        if m.client_streaming or m.server_streaming:
            problems.append(f"rpc {rpc}: is streaming, the spec's RPCs are unary")
    return problems


def file_proto(file_descriptor) -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto()
    file_descriptor.CopyToProto(fdp)
    return fdp


# --------------------------------------------------------------------------------------------- #
# (a) Drift
# --------------------------------------------------------------------------------------------- #
def _generated(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name.endswith(GENERATED_SUFFIXES)}


def test_generated_code_matches_the_proto(tmp_path):
    try:
        from grpc_tools import grpc_version
    except ImportError:
        pytest.fail("grpcio-tools is not installed: pip install -e '.[test]' (it is a test extra)")
    proc = subprocess.run([sys.executable, str(GEN_SCRIPT), "--out", str(tmp_path), "--quiet"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, f"scripts/gen_protos.py failed:\n{proc.stdout}\n{proc.stderr}"
    fresh, committed = _generated(tmp_path), _generated(RPC_DIR)
    assert fresh, "the generator produced nothing"
    assert set(committed) == set(fresh), (
        f"backtestester/rpc holds {sorted(committed)}, the proto generates {sorted(fresh)}: {REGEN_HINT}")
    differ = sorted(name for name in fresh if fresh[name] != committed[name])
    if differ:
        m = re.search(rb"grpcio-tools ([\w.]+)\)", committed[differ[0]])
        if m and m.group(1).decode() != grpc_version.VERSION:
            pytest.fail(f"backtestester/rpc was generated with grpcio-tools {m.group(1).decode()}, this "
                        f"environment has {grpc_version.VERSION}: install the version pyproject.toml pins, "
                        f"or {REGEN_HINT}")
        name = differ[0]
        diff = "".join(list(difflib.unified_diff(
            committed[name].decode("utf-8", "replace").splitlines(keepends=True),
            fresh[name].decode("utf-8", "replace").splitlines(keepends=True),
            f"committed/{name}", f"regenerated/{name}"))[:40])
        pytest.fail(f"generated code is out of date with protos/ ({', '.join(differ)}): {REGEN_HINT}\n{diff}")


def test_generated_imports_are_package_relative():
    grpc_src = (RPC_DIR / "playground_pb2_grpc.py").read_text(encoding="utf-8")
    assert "from . import playground_pb2 as playground__pb2" in grpc_src
    assert not re.search(r"^import playground_pb2", grpc_src, re.M)
    # Message classes name their real module, so they pickle (Ray ships them between processes).
    import pickle

    order = playground_pb2.Order(id=7, symbol="GOOG")
    setattr(order, "class", "equity")
    assert type(order).__module__ == "backtestester.rpc.playground_pb2"
    assert pickle.loads(pickle.dumps(order)) == order


def test_the_import_rule_holds():
    """Only backtestester/rpc, wire and remote (and the gateway) import grpc or protobuf: not
    engine, data, strategy or any other module of the pure package."""
    allowed = {"rpc", "wire", "remote"}
    for path in (ROOT / "backtestester").rglob("*.py"):
        if path.relative_to(ROOT / "backtestester").parts[0] in allowed:
            continue
        src = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import grpc|from grpc|import google\.protobuf|from google\.protobuf"
                             r"|import backtestester\.(rpc|wire|remote)|from backtestester\.(rpc|wire|remote)"
                             r"|from \.+(rpc|wire|remote)\b)", src, re.M), f"{path.relative_to(ROOT)} imports grpc/rpc"


# --------------------------------------------------------------------------------------------- #
# (b) Contract
# --------------------------------------------------------------------------------------------- #
def test_the_committed_copy_of_the_spec_is_the_shared_spec():
    """shared/spec/wire-v1.md in the repository lets a clone anywhere check the contract; where
    the team's shared/ directory sits beside the clone (and is read first), the copy must be it."""
    copy = ROOT / "shared" / "spec" / "wire-v1.md"
    assert copy.is_file(), "the repository carries a copy of the wire spec"
    beside = ROOT.parent / "shared" / "spec" / "wire-v1.md"
    if beside.is_file():
        assert copy.read_bytes() == beside.read_bytes(), f"{copy} differs from {beside}: copy it again"


def test_spec_parser_reads_the_whole_spec(spec):
    # Guard against a parser that silently reads nothing: the spec's known shape.
    assert spec.package == "playground" and spec.service == "PlaygroundService"
    assert len(spec.rpcs) == 17
    assert spec.rpcs["GetAppVersion"] == ("google.protobuf.Empty", "GetAppVersionResponse")
    assert len(spec.messages) == 43
    assert spec.messages["EmptyResponse"] == []
    assert [f.number for f in spec.messages["Bar"]] == list(range(1, 41))
    assert SpecField(8, "positions", "map<string,Position>", "-") in spec.messages["PlaygroundSession"]
    assert SpecField(5, "delay_in_seconds", "int32", "optional") in spec.messages["MockFillOrderRequest"]
    for name, fields in spec.messages.items():
        assert len({f.number for f in fields}) == len(fields), name
        assert len({f.name for f in fields}) == len(fields), name


def test_generated_descriptors_match_the_spec(spec):
    problems = contract_problems(file_proto(playground_pb2.DESCRIPTOR), spec)
    assert not problems, "the contract with wire-v1.md is broken:\n  " + "\n  ".join(problems)


def test_live_descriptors_match_the_spec_labels(spec):
    """The same labels seen through the runtime descriptors (what the server actually uses)."""
    for mname, sfields in spec.messages.items():
        desc = playground_pb2.DESCRIPTOR.message_types_by_name[mname]
        for sf in sfields:
            f = desc.fields_by_number[sf.number]
            assert f.name == sf.name
            if sf.label == "repeated" or sf.type.startswith("map<"):
                assert f.is_repeated, f"{mname}.{sf.name}"
            elif sf.label == "optional":
                oneof = f.containing_oneof
                assert not f.is_repeated and f.has_presence, f"{mname}.{sf.name}"
                # synthetic oneof: proto3 `optional`, named _<field>, holding only this field
                assert oneof is not None and oneof.name == f"_{f.name}" and list(oneof.fields) == [f]
            else:
                assert not f.is_repeated and f.containing_oneof is None, f"{mname}.{sf.name}"
                # plain scalars have no presence; singular message fields always do
                assert f.has_presence == (f.type == f.TYPE_MESSAGE), f"{mname}.{sf.name}"
    service = playground_pb2.DESCRIPTOR.services_by_name[spec.service]
    for rpc in spec.rpcs:
        m = service.methods_by_name[rpc]
        assert not m.client_streaming and not m.server_streaming, rpc


def test_the_proto_keeps_the_spec_message_order(spec):
    names = [m.name for m in file_proto(playground_pb2.DESCRIPTOR).message_type]
    in_spec = [n for n in names if n in spec.messages]
    assert in_spec == list(spec.messages), "v1 messages should stay in wire-v1.md's order"


def _message_block(text: str, message: str) -> tuple[int, int]:
    m = re.search(rf"^message {message} \{{.*?^\}}\n", text, re.M | re.S)
    assert m, f"message {message} not found in the proto"
    return m.start(), m.end()


def _mutate(text: str, message: str | None, old: str, new: str) -> str:
    start, end = _message_block(text, message) if message else (0, len(text))
    block = text[start:end]
    assert block.count(old) == 1, f"{old!r} not unique in {message or 'the file'}"
    return text[:start] + block.replace(old, new) + text[end:]


MUTATIONS = {
    "rename": ("Order", "string class = 2;", "string klass = 2;", "named 'klass'"),
    "renumber": ("NextTickRequest", "string request_id = 4;", "string request_id = 5;", "numbered 5"),
    "retype scalar": ("Bar", "int32 superD_50_3 = 8;", "int64 superD_50_3 = 8;", "type is TYPE_INT64"),
    "retype message": ("Candle", "Bar bar = 3;", "Order bar = 3;", "type is playground.Order"),
    "retype map": ("GetAccountResponse", "map<string, Position> positions", "map<string, Trade> positions",
                   "map value: type is playground.Trade"),
    "remove field": ("TickDelta", "bool is_backtest_complete = 6;", "", "field removed"),
    "optional to plain": ("PlaceOrderRequest", "optional double sl = 14;", "double sl = 14;",
                          "label is '-', spec says 'optional'"),
    "plain to optional": ("GetAccountRequest", "bool fetch_orders = 2;", "optional bool fetch_orders = 2;",
                          "label is 'optional', spec says '-'"),
    "repeated to plain": ("GetPlaygroundsRequest", "repeated string tags = 1;", "string tags = 1;",
                          "label is '-', spec says 'repeated'"),
    "remove message": (None, "message GetEquityReconciliationReport {\n  string reconcile_playground_id = 1;\n}\n",
                       "", "message GetEquityReconciliationReport is missing"),
    "rpc response": (None, "rpc GetOrder(GetOrderRequest) returns (Order);",
                     "rpc GetOrder(GetOrderRequest) returns (Trade);", "rpc GetOrder: response is playground.Trade"),
    "rpc streaming": (None, "rpc NextTick(NextTickRequest) returns (TickDelta);",
                      "rpc NextTick(NextTickRequest) returns (stream TickDelta);", "rpc NextTick: is streaming"),
    "remove rpc": (None, "rpc MockFillOrder(MockFillOrderRequest) returns (EmptyResponse);", "",
                   "rpc MockFillOrder is missing"),
    "package": (None, "package playground;", "package playground2;", "package is 'playground2'"),
}


def _compile(proto_text: str, tmp_path: Path) -> descriptor_pb2.FileDescriptorProto:
    from importlib.resources import files

    from grpc_tools import protoc

    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "playground.proto").write_text(proto_text, encoding="utf-8")
    out = tmp_path / "set.pb"
    rc = protoc.main(["protoc", f"--proto_path={src}", f"--proto_path={files('grpc_tools') / '_proto'}",
                      f"--descriptor_set_out={out}", str(src / "playground.proto")])
    assert rc == 0, "protoc rejected the proto"
    fdp = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[-1]
    for message in fdp.message_type:  # the embedded descriptor omits json_name: compare like with like
        for m in [message, *message.nested_type]:
            for f in m.field:
                f.ClearField("json_name")
    return fdp


def test_the_committed_proto_compiles_to_the_same_descriptor(tmp_path, spec):
    fdp = _compile(PROTO.read_text(encoding="utf-8"), tmp_path)
    assert contract_problems(fdp, spec) == []
    assert fdp == file_proto(playground_pb2.DESCRIPTOR), f"the generated code is not from this proto: {REGEN_HINT}"


@pytest.mark.parametrize("kind", sorted(MUTATIONS))
def test_the_contract_check_catches(kind, tmp_path, spec):
    message, old, new, expected = MUTATIONS[kind]
    fdp = _compile(_mutate(PROTO.read_text(encoding="utf-8"), message, old, new), tmp_path)
    problems = contract_problems(fdp, spec)
    assert any(expected in p for p in problems), f"{kind}: expected a problem containing {expected!r}, got {problems}"


# --------------------------------------------------------------------------------------------- #
# (c) Additions
# --------------------------------------------------------------------------------------------- #
def _fields(message) -> list[tuple[int, str, int, bool, bool]]:
    return [(f.number, f.name, f.type, f.is_repeated, f.containing_oneof is not None) for f in message.fields]


def test_additions_have_their_documented_shapes_and_messages(spec):
    service = playground_pb2.DESCRIPTOR.services_by_name["PlaygroundService"]
    additions = {m.name: m for m in service.methods if m.name not in spec.rpcs}
    assert set(additions) == {"StreamTicks", "StreamCandlesArrow", "CancelOrder", "PushBars", "GetBrokerHealth",
                              "SettleIntent", "Session"}
    for name in ("StreamTicks", "StreamCandlesArrow"):
        assert additions[name].server_streaming and not additions[name].client_streaming, name
    # CancelOrder: unary (so every front end of the servicer serves it), appended after the spec's RPCs
    cancel = additions["CancelOrder"]
    assert not cancel.server_streaming and not cancel.client_streaming
    assert [m.name for m in service.methods][-5:] == ["CancelOrder", "PushBars", "GetBrokerHealth", "SettleIntent", "Session"]
    assert cancel.output_type.full_name == "playground.Order"

    ticks = additions["StreamTicks"]
    assert ticks.input_type.full_name == "playground.StreamTicksRequest"
    assert ticks.output_type.full_name == "playground.TickDelta"  # the same delta NextTick returns
    FD = ticks.input_type.fields[0]
    assert _fields(ticks.input_type) == [
        (1, "playground_id", FD.TYPE_STRING, False, False),
        (2, "seconds", FD.TYPE_UINT64, False, False),
        (3, "max_ticks", FD.TYPE_UINT32, False, False),
        (4, "is_preview", FD.TYPE_BOOL, False, False),
        (5, "request_id", FD.TYPE_STRING, False, False),
    ]

    arrow = additions["StreamCandlesArrow"]
    assert arrow.input_type.full_name == "playground.GetCandlesRequest"  # same request as GetCandles
    assert arrow.output_type.full_name == "playground.ArrowBatch"
    assert _fields(arrow.output_type) == [(1, "ipc", FD.TYPE_BYTES, False, False)]
    assert _fields(cancel.input_type) == [(1, "playground_id", FD.TYPE_STRING, False, False),
                                          (2, "order_id", FD.TYPE_UINT64, False, False)]

    # New messages only: none of the additions reuses a name of the spec.
    new_messages = set(playground_pb2.DESCRIPTOR.message_types_by_name) - set(spec.messages)
    assert new_messages == {"StreamTicksRequest", "ArrowBatch", "CancelOrderRequest", "PushBarsRequest", "PushBarsResponse",
                            "GetBrokerHealthRequest", "BrokerHealth", "GetBrokerHealthResponse", "SettleIntentRequest",
                            *(f"Session{m}" for m in ("Command", "Open", "Advance", "Ticks", "Error", "Event", "QuietTicks"))}
    # Live trading (docs/live.md): bars pushed by a client (client streaming), the brokers' health.
    push, health = additions["PushBars"], additions["GetBrokerHealth"]
    assert push.client_streaming and not push.server_streaming
    assert push.input_type.full_name == "playground.PushBarsRequest"
    assert not health.client_streaming and not health.server_streaming
    # An operator settles an intent of unknown outcome: the answer is the fresh reconciliation report.
    assert additions["SettleIntent"].output_type.full_name == "playground.GetReconciliationReportResponse"
    assert _fields(additions["SettleIntent"].input_type) == [
        (1, "reconcile_playground_id", FD.TYPE_STRING, False, False), (2, "key", FD.TYPE_STRING, False, False),
        (3, "note", FD.TYPE_STRING, False, False)]


def test_fields_added_to_v1_messages_are_numbered_from_100_and_have_presence(spec):
    """New fields on the spec's messages (docs/wire.md) take numbers of 100 and up, never a spec
    name, and are optional or repeated, so a v1 client neither sends nor needs them."""
    added = {}
    for name, sfields in spec.messages.items():
        message = playground_pb2.DESCRIPTOR.message_types_by_name[name]
        known = {sf.number for sf in sfields}
        for f in message.fields:
            if f.number not in known:
                assert f.number >= 100 and f.name not in {sf.name for sf in sfields}, (name, f.name)
                assert f.is_repeated or f.has_presence, (name, f.name)
                added.setdefault(name, []).append((f.number, f.name))
    assert added == {
        "PlaceOrderRequest": [(100, "stop_price"), (101, "tp"), (102, "equity_fraction")],
        "TickDeltaEvent": [(100, "orders")],
        "Order": [(100, "sl"), (101, "tp"), (102, "order_stop_price"), (103, "protects")],
        "CreatePolygonPlaygroundRequest": [(100, "fill_model"), (101, "margin_basis"), (102, "enforce_stop_loss"),
                                           (103, "commission_rate"), (104, "commission_per_share"),
                                           (105, "commission_per_order"), (106, "commission_minimum"),
                                           (107, "slippage_rate"), (108, "slippage_per_share")],
        "Trade": [(100, "commission")],
        "GetReconciliationReportResponse": [(100, "differences"), (101, "unknown_broker_orders"),
                                            (102, "unknown_intents"), (103, "opens_blocked")],
    }


def test_generated_stubs_health_and_reflection_work_end_to_end():
    """A throwaway servicer for the two streams behind a real server on an OS-chosen port."""
    from concurrent import futures

    import grpc
    import pyarrow as pa
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

    from backtestester.rpc import REFLECTION_SERVICE_NAMES, SERVICE_NAME

    schema = pa.schema([("start", pa.timestamp("ns", tz="UTC")), ("open", pa.float64()), ("high", pa.float64()),
                        ("low", pa.float64()), ("close", pa.float64()), ("volume", pa.float64())],
                       metadata={"symbol": "GOOG", "period_in_seconds": "60"})

    class Servicer(playground_pb2_grpc.PlaygroundServiceServicer):
        def StreamTicks(self, request, context):
            for i in range(request.max_ticks):
                yield playground_pb2.TickDelta(current_time=f"t{i}", is_backtest_complete=i == request.max_ticks - 1)

        def StreamCandlesArrow(self, request, context):
            for k in range(2):
                table = pa.table({"start": pa.array([k * 60_000_000_000], pa.timestamp("ns", tz="UTC")),
                                  **{c: [float(k)] for c in ("open", "high", "low", "close", "volume")}},
                                 schema=schema)
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, table.schema) as writer:
                    writer.write_table(table)
                yield playground_pb2.ArrowBatch(ipc=sink.getvalue().to_pybytes())

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.so_reuseport", 0)])
    playground_pb2_grpc.add_PlaygroundServiceServicer_to_server(Servicer(), server)
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(REFLECTION_SERVICE_NAMES, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = playground_pb2_grpc.PlaygroundServiceStub(channel)
            deltas = list(stub.StreamTicks(playground_pb2.StreamTicksRequest(playground_id="p", seconds=60,
                                                                            max_ticks=3), timeout=10))
            assert [d.current_time for d in deltas] == ["t0", "t1", "t2"] and deltas[-1].is_backtest_complete

            batches = list(stub.StreamCandlesArrow(playground_pb2.GetCandlesRequest(
                playground_id="p", symbol="GOOG", period_in_seconds=60, fromRTF3339="2024-01-02T00:00:00Z"),
                timeout=10))
            tables = [pa.ipc.open_stream(b.ipc).read_all() for b in batches]  # each message stands alone
            whole = pa.concat_tables(tables)
            assert whole.schema == schema and whole.column("open").to_pylist() == [0.0, 1.0]

            # An original RPC the throwaway servicer does not implement: UNIMPLEMENTED, not a hang.
            with pytest.raises(grpc.RpcError) as err:
                stub.NextTick(playground_pb2.NextTickRequest(playground_id="p", seconds=1, request_id="r"), timeout=10)
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED

            check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME),
                                                              timeout=10)
            assert check.status == health_pb2.HealthCheckResponse.SERVING

            refl = reflection_pb2_grpc.ServerReflectionStub(channel)
            requests = [reflection_pb2.ServerReflectionRequest(list_services=""),
                        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE_NAME)]
            listed, found = list(refl.ServerReflectionInfo(iter(requests), timeout=10))
            services = {s.name for s in listed.list_services_response.service}
            assert {SERVICE_NAME, "grpc.health.v1.Health"} <= services
            # A generic client can get the whole contract: playground.proto is served by symbol.
            files = [descriptor_pb2.FileDescriptorProto.FromString(b)
                     for b in found.file_descriptor_response.file_descriptor_proto]
            served = next(f for f in files if f.name == "playground.proto")
            assert {m.name for m in served.service[0].method} >= {"NextTick", "StreamTicks", "StreamCandlesArrow"}
    finally:
        server.stop(None)
