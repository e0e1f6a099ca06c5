"""Every single-field forgery a writer could make is caught without a signature.

hypothesis generates packs (gates with every status, required or not, with measurements and
messages, with or without a decision). For each pack, every forgery below is applied on its
own, SHA256SUMS is recomputed as a forger would, and ``verify_pack`` must reject the pack with
a problem that names the forged field:

* every leaf of results.json, manifest.json, policy.json, config.json and decision.json;
* every field of every journal line, the chain recomputed after the edit;
* in junit.xml: a testcase's verdict element removed or added, its type and message, its
  properties, the testsuite's counts and properties;
* in each Allure result: status, message, severity, feature, error-class tag and name.
"""

from __future__ import annotations

import json
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_pack_publish import STARTED
from test_pack_publish import manifest as base_manifest

from pytest_ipai.core.results import STATUSES, Attempt, GateResult
from pytest_ipai.evidence.journal import GENESIS, encode_entry, line_hash
from pytest_ipai.evidence.pack import Staging, checksums
from pytest_ipai.evidence.publish import publish_run
from pytest_ipai.evidence.verify import verify_pack

Forgery = tuple[str, str, Callable[[Path], None], tuple[str, ...]]  # file, what, apply, names

gate_spec = st.fixed_dictionaries(
    {
        "status": st.sampled_from(STATUSES),
        "required": st.booleans(),
        "severity": st.sampled_from(["critical", "normal", "minor"]),
        "error_class": st.one_of(st.none(), st.sampled_from(["http_down", "repo_missing"])),
        "message": st.text(alphabet="abcdefgh :/.-", max_size=30),
        "count": st.integers(0, 999),
        "journaled": st.booleans(),
    }
)
pack_spec = st.fixed_dictionaries(
    {
        "gates": st.lists(gate_spec, min_size=1, max_size=4),
        "decision": st.one_of(st.none(), st.sampled_from(["promote", "rollback", "hold"])),
    }
)


def build(root: Path, spec: dict[str, Any]) -> Path:
    run_id = "20261124T180530Z-forgery"
    expected = [
        {
            "gate_id": f"demo.gate_{n}",
            "suite": "predeploy",
            "severity": g["severity"],
            "required": g["required"],
        }
        for n, g in enumerate(spec["gates"])
    ]
    staging = Staging(root, run_id)
    staging.journal.append("start", {"run_id": run_id, "expected": expected})
    results = []
    for entry, g in zip(expected, spec["gates"], strict=True):
        if not g["journaled"]:
            continue  # published as not_run
        result = GateResult(
            **entry,
            status=g["status"],
            error_class=g["error_class"],
            message=g["message"],
            measurements={"count": g["count"]},
            attempts=[Attempt(at=STARTED, outcome="ok", duration=0.25)],
            host="testhost",
        )
        staging.record(result)
        results.append(result)
    manifest = dict(
        base_manifest(run_id),
        git={
            "available": True,
            "path": "/srv/stack",
            "branch": "main",
            "sha": "a" * 40,
            "tree_sha": "b" * 40,
            "dirty": False,
            "diffstat": "",
        },
    )
    decision = None
    if spec["decision"]:
        decision = {
            "verdict": spec["decision"],
            "rule": "demo.rule",
            "reason": "because",
            "inputs": {"failed": 1},
            "decided_at": STARTED,
        }
    config = {
        "schema": "ipai/config-snapshot/1",
        "file": "ipai.toml",
        "env": "dev",
        "config": {"stack": {"name": "demo"}},
    }
    pack, _ = publish_run(
        staging,
        manifest=manifest,
        results=results,
        expected=expected,
        decision=decision,
        config=config,
    )
    return pack


# -- forgeries ---------------------------------------------------------------------------------
def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path, value


def changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1 if value != 2 else 1
    if isinstance(value, float):
        return value + 1.5
    if isinstance(value, str):
        return value + "x"
    return "forged"


def set_at(document: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        document = document[key]
    document[path[-1]] = value


def names_of(path: tuple[Any, ...], value: Any = None) -> tuple[str, ...]:
    """What a problem must name: the forged key, or for a forged gate id the gate itself."""
    keys = tuple(str(k) for k in path if isinstance(k, str))
    keys = keys[1:] if keys[:1] == ("results",) and len(keys) > 1 else keys
    return (*keys, f"gate {changed(value)}") if keys[-1:] == ("gate_id",) else keys


def json_forgeries(pack: Path, name: str) -> Iterator[Forgery]:
    data = json.loads((pack / name).read_text())
    for path, value in list(leaves(data)):

        def apply(target: Path, path: tuple[Any, ...] = path, value: Any = value) -> None:
            document = json.loads((target / name).read_text())
            set_at(document, path, changed(value))
            (target / name).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")

        yield name, "/".join(map(str, path)), apply, names_of(path, value)


def journal_forgeries(pack: Path) -> Iterator[Forgery]:
    lines = (pack / "journal.jsonl").read_bytes().splitlines()
    for number, raw in enumerate(lines):
        entry = json.loads(raw)
        for path, value in list(leaves(entry)):
            if path in (("prev",),):
                continue  # re-chaining rewrites it

            def apply(
                target: Path, n: int = number, path: tuple[Any, ...] = path, value: Any = value
            ) -> None:
                entries = [json.loads(r) for r in lines]
                set_at(entries[n], path, changed(value))
                prev, out = GENESIS, []
                for item in entries:  # the forger re-chains every line after the edit
                    item["prev"] = prev
                    payload = {k: v for k, v in item.items() if k not in ("seq", "prev", "kind")}
                    line = encode_entry(item["seq"], prev, item["kind"], payload)
                    out.append(line)
                    prev = line_hash(line)
                (target / "journal.jsonl").write_bytes(b"\n".join(out) + b"\n")

            yield (
                "journal.jsonl",
                f"line {number + 1} " + "/".join(map(str, path)),
                apply,
                (*names_of(path, value), "seq" if path == ("seq",) else "journal"),
            )


def xml_forgery(
    name: str, change: Callable[[ET.Element], None], what: str, names: tuple[str, ...]
) -> Forgery:
    def apply(target: Path) -> None:
        tree = ET.parse(target / name)
        change(tree.getroot())
        tree.write(target / name, encoding="utf-8", xml_declaration=True)

    return name, what, apply, names


def junit_forgeries(pack: Path) -> Iterator[Forgery]:
    root = ET.parse(pack / "junit.xml").getroot()
    for key in ("tests", "failures", "errors", "skipped"):
        yield xml_forgery(
            "junit.xml",
            lambda r, k=key: r.find("testsuite").set(
                k, "0" if r.find("testsuite").get(k) != "0" else "9"
            ),  # type: ignore[union-attr]
            f"testsuite {key}",
            (key,),
        )
    for prop in ("exit_code", "interrupted", "run_id"):
        yield xml_forgery(
            "junit.xml",
            lambda r, p=prop: next(x for x in r.iter("property") if x.get("name") == p).set(
                "value", "forged"
            ),
            f"testsuite property {prop}",
            (prop,),
        )
    for case in root.iter("testcase"):
        gate = str(case.get("name"))

        def find(r: ET.Element, g: str = gate) -> ET.Element:
            return next(c for c in r.iter("testcase") if c.get("name") == g)

        verdict = [c for c in case if c.tag in ("failure", "error", "skipped")]
        if verdict:
            tag = verdict[0].tag
            yield xml_forgery(
                "junit.xml",
                lambda r, f=find, t=tag: f(r).remove(f(r).find(t)),  # type: ignore[arg-type]
                f"{gate} <{tag}> stripped",
                (gate,),
            )
            yield xml_forgery(
                "junit.xml",
                lambda r, f=find, t=tag: f(r).find(t).set("type", "forged"),  # type: ignore[union-attr]
                f"{gate} type",
                ("type",),
            )
            yield xml_forgery(
                "junit.xml",
                lambda r, f=find, t=tag: f(r).find(t).set("message", "ok"),  # type: ignore[union-attr]
                f"{gate} message",
                ("message",),
            )
        else:
            yield xml_forgery(
                "junit.xml",
                lambda r, f=find: ET.SubElement(f(r), "failure"),
                f"{gate} <failure> added",
                (gate,),
            )
        for prop in case.iter("property"):
            key = str(prop.get("name"))
            if key == "nodeid":
                continue
            yield xml_forgery(
                "junit.xml",
                lambda r, f=find, k=key: next(
                    x for x in f(r).iter("property") if x.get("name") == k
                ).set("value", "forged"),
                f"{gate} property {key}",
                (key,),
            )


def allure_forgeries(pack: Path) -> Iterator[Forgery]:
    for path in sorted((pack / "allure-results").glob("*-result.json")):
        rel = f"allure-results/{path.name}"
        record = json.loads(path.read_text())

        def edit(
            change: Callable[[dict[str, Any]], None], rel: str = rel
        ) -> Callable[[Path], None]:
            def apply(target: Path) -> None:
                data = json.loads((target / rel).read_text())
                change(data)
                (target / rel).write_text(json.dumps(data))

            return apply

        def label(name: str) -> Callable[[dict[str, Any]], None]:
            def change(data: dict[str, Any]) -> None:
                found = [x for x in data["labels"] if x["name"] == name]
                if found:
                    found[0]["value"] = "forged"
                else:
                    data["labels"].append({"name": name, "value": "forged"})

            return change

        flipped = "passed" if record["status"] != "passed" else "failed"
        yield rel, "status", edit(lambda d, s=flipped: d.update(status=s)), ("status",)
        yield (
            rel,
            "message",
            edit(lambda d: d["statusDetails"].update(message="fine")),
            ("message",),
        )
        yield rel, "name", edit(lambda d: d.update(name="forged")), ("name",)
        for name, names in (
            ("severity", ("severity",)),
            ("feature", ("feature",)),
            ("tag", ("tag",)),
        ):
            yield rel, f"label {name}", edit(label(name)), names


def forgeries(pack: Path) -> Iterator[Forgery]:
    for name in ("results.json", "manifest.json", "policy.json", "config.json", "decision.json"):
        if (pack / name).is_file():
            yield from json_forgeries(pack, name)
    yield from journal_forgeries(pack)
    yield from junit_forgeries(pack)
    yield from allure_forgeries(pack)


# No shrinking: every example already names the forgery that slipped through.
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(spec=pack_spec)
def test_every_single_field_forgery_is_named(spec: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="ipai-forgery-") as tmp:
        pack = build(Path(tmp), spec)
        assert verify_pack(pack) == []
        originals = {p: p.read_bytes() for p in pack.rglob("*") if p.is_file()}
        tried = 0
        for name, what, apply, names in forgeries(pack):
            apply(pack)
            (pack / "SHA256SUMS").write_bytes(checksums(pack))  # as a forger would
            problems = verify_pack(pack)
            assert problems, f"{name} {what}: forged and still valid"
            assert any(n in p for p in problems for n in names), (
                f"{name} {what}: no problem names {names}: {problems}"
            )
            for path, data in originals.items():  # undo, for the next forgery
                path.write_bytes(data)
            tried += 1
        assert tried > 50
