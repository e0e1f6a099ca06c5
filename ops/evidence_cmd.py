"""``ipai evidence ...``: verify packs and ledgers, recover staged runs, list, keygen, sign,
anchor. Exit 0 valid / done, 1 invalid, 2 usage or tool error (one line)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_ipai.core.errors import EXIT_GATE_FAILED, EXIT_OK, IpaiError

if TYPE_CHECKING:  # the parser is built for every command: it imports what each one needs
    from pytest_ipai.config.stack import StackConfig

ConfigLoader = Callable[[argparse.Namespace], "StackConfig"]


def add_command(
    commands: Any, add_config_options: Callable[[argparse.ArgumentParser], None]
) -> None:
    p_ev = commands.add_parser("evidence", help="work with evidence packs")
    ev = p_ev.add_subparsers(dest="evidence_command", required=True, parser_class=type(p_ev))
    p_verify = ev.add_parser(
        "verify", help="check a pack (or a whole evidence root's ledger): re-derive, signature"
    )
    p_verify.add_argument("pack", nargs="?", help="the pack folder (omit with --ledger)")
    add_config_options(p_verify)
    p_verify.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="PUB",
        help="a trusted PEM public key; the pack must be signed by one",
    )
    p_verify.add_argument("--trusted-keys", metavar="FILE", help="a file of PEM public keys")
    p_verify.add_argument("--ledger", metavar="ROOT", help="verify ROOT's ledger and its packs")
    p_verify.add_argument(
        "--sigstore-identity",
        metavar="ID",
        help="also check the pack's Sigstore bundle was signed by ID (e.g. a workflow URL)",
    )
    p_verify.add_argument(
        "--sigstore-issuer", metavar="URL", help="the identity's OIDC issuer (default: GitHub's)"
    )
    p_verify.add_argument("--anchors", metavar="REPO", help="with --ledger: check the git anchors")
    p_verify.add_argument("--anchor-name", metavar="NAME", help="default: the config's env")
    p_recover = ev.add_parser("recover", help="publish staged runs; add unledgered packs")
    add_config_options(p_recover)
    p_recover.add_argument("--evidence-root", metavar="DIR")
    p_list = ev.add_parser("list", help="the packs of an environment from its ledger")
    add_config_options(p_list)
    p_list.add_argument("--evidence-root", metavar="DIR")
    p_list.add_argument("--limit", type=int, default=50)
    p_keygen = ev.add_parser("keygen", help="a new ed25519 signing key pair")
    p_keygen.add_argument(
        "--out", required=True, metavar="PATH", help="private key path (the public key is PATH.pub)"
    )
    p_sign = ev.add_parser("sign", help="sign a published pack (again)")
    p_sign.add_argument("pack")
    add_config_options(p_sign)
    p_sign.add_argument("--key", metavar="PRIVATE", help="default: the config's signing_key")
    p_anchor = ev.add_parser("anchor", help="tag the stack repository with the ledger's head")
    add_config_options(p_anchor)
    p_anchor.add_argument("--evidence-root", metavar="DIR")
    p_anchor.add_argument("--repo", metavar="DIR", help="default: the config's stack repository")
    p_anchor.add_argument("--name", metavar="NAME", help="default: the config's env")
    p_anchor.add_argument("--sign", action="store_true", help="git tag -s (GPG or SSH signing)")


def _root(args: argparse.Namespace, load_config: ConfigLoader) -> Path:
    if getattr(args, "evidence_root", None):
        return Path(args.evidence_root).resolve()
    return load_config(args).env.evidence_root


def cmd_evidence(args: argparse.Namespace, load_config: ConfigLoader) -> int:
    handlers: dict[str, Callable[[argparse.Namespace, ConfigLoader], int]] = {
        "verify": _verify,
        "recover": _recover,
        "list": _list,
        "keygen": lambda a, _c: _keygen(a),
        "sign": _sign,
        "anchor": _anchor,
    }
    return handlers[args.evidence_command](args, load_config)


def _verify(args: argparse.Namespace, load_config: ConfigLoader) -> int:
    from pytest_ipai.evidence.attest import trusted_keys

    if (args.pack is None) == (args.ledger is None):
        raise IpaiError("evidence verify: give a PACK or --ledger ROOT (one of them)")
    if args.anchors and not args.ledger:
        raise IpaiError("--anchors: only with --ledger")
    config = load_config(args) if args.config else None
    files = [Path(k) for k in args.key]
    if args.trusted_keys:
        files.append(Path(args.trusted_keys))
    keys = trusted_keys(files, config)
    secrets = config.secret_values() if config is not None else []
    if args.ledger:
        return _verify_ledger(args, Path(args.ledger), secrets, keys, config)
    from pytest_ipai.evidence.verify import verify

    pack = Path(args.pack)
    checked = verify(pack, secrets, keys)
    signature = checked.signature
    if args.sigstore_identity:
        from pytest_ipai.evidence.sigstore_check import GITHUB_ISSUER, sigstore_problems

        issuer = args.sigstore_issuer or GITHUB_ISSUER
        found = sigstore_problems(pack, args.sigstore_identity, issuer)
        checked.problems += found
        signature += "; sigstore " + ("NOT verified" if found else "verified")
    return _outcome(str(pack), checked.problems, signature)


def _verify_ledger(
    args: argparse.Namespace, root: Path, secrets: list[str], keys: Any, config: Any
) -> int:
    from pytest_ipai.evidence.anchor import anchor_problems
    from pytest_ipai.evidence.ledger_verify import verify_ledger

    if not root.is_dir():
        raise IpaiError(f"--ledger {root}: not a folder")
    problems = verify_ledger(root, secrets, keys)
    if args.anchors:
        name = args.anchor_name or (config.env.name if config is not None else None)
        if name is None:
            raise IpaiError("--anchors: give --anchor-name NAME or --config")
        problems += anchor_problems(root, Path(args.anchors), name)
    signature = "every pack checked against the trusted keys" if keys else "signatures not checked"
    return _outcome(str(root), problems, signature)


def _outcome(what: str, problems: list[str], signature: str) -> int:
    for problem in problems:
        print(f"{what}: {problem}")
    if problems:
        count = len(problems)
        print(f"{what}: INVALID ({count} problem{'s' if count != 1 else ''}; {signature})")
        return EXIT_GATE_FAILED
    print(f"{what}: valid ({signature})")
    return EXIT_OK


def _recover(args: argparse.Namespace, load_config: ConfigLoader) -> int:
    from pytest_ipai.evidence.attest import load_pack_signer
    from pytest_ipai.evidence.ledger import adopt_unledgered
    from pytest_ipai.evidence.publish import recover_all

    root = _root(args, load_config)
    signer = load_pack_signer(load_config(args)) if args.config else None
    packs, warnings = recover_all(root, signer)
    for warning in warnings:
        print(f"ipai: warning: {warning}", file=sys.stderr)
    for pack in packs:
        print(f"recovered: {pack}")
    adopted = adopt_unledgered(root) if root.is_dir() else []
    for pack in adopted:
        print(f"added to the ledger: {pack}")
    if not packs and not adopted:
        print("nothing to recover")
    return EXIT_OK


def _list(args: argparse.Namespace, load_config: ConfigLoader) -> int:
    from .evidence_list import list_packs

    if args.limit < 1:
        raise IpaiError("--limit: must be at least 1")
    print("\n".join(list_packs(_root(args, load_config), args.limit)))
    return EXIT_OK


def _keygen(args: argparse.Namespace) -> int:
    from pytest_ipai.evidence.attest import generate_key

    private = Path(args.out)
    public, keyid = generate_key(private)
    print(f"private key: {private} (mode 600; keep it on the host, never in a pack or repo)")
    print(f"public key:  {public} (give it to whoever verifies: --key {public})")
    print(f"key id:      {keyid}")
    return EXIT_OK


def _sign(args: argparse.Namespace, load_config: ConfigLoader) -> int:
    from pytest_ipai.evidence.attest import load_pack_signer, load_signer, sign_existing
    from pytest_ipai.evidence.ledger import LEDGER, append_pack
    from pytest_ipai.evidence.verify import verify

    pack = Path(args.pack).resolve()
    if args.key:
        signer = load_signer(Path(args.key), None, "--key")
    else:
        found = load_pack_signer(load_config(args))
        if found is None:
            raise IpaiError("evidence sign: give --key PRIVATE or set evidence.signing_key")
        signer = found
    checked = verify(pack)
    unsigned = [p for p in checked.problems if not p.startswith("attestations/")]
    if unsigned:
        return _outcome(str(pack), unsigned, "not signed: a pack that does not verify")
    for rel in sign_existing(pack, signer):
        print(f"signed: {pack / rel} (key id {signer.keyid})")
    root = pack.parent.parent
    if (root / LEDGER).is_file():
        append_pack(root, pack, "signed")
    return EXIT_OK


def _anchor(args: argparse.Namespace, load_config: ConfigLoader) -> int:
    from pytest_ipai.evidence.anchor import create_anchor

    config = load_config(args) if (args.config or not args.repo or not args.name) else None
    root = _root(args, load_config)
    repo = Path(args.repo) if args.repo else config.repo_root if config else Path.cwd()
    name = args.name or (config.env.name if config else "default")
    print(f"anchored: {create_anchor(root, repo, name, sign=args.sign)}")
    return EXIT_OK
