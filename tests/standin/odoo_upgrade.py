"""A stand-in for ``odoo -d DB -u MODULES -i MODULES --stop-after-init`` (Odoo cannot run here).

Like Odoo, it sets each named module ``installed`` at its disk version adapted to the series,
writing ``ir_module_module`` in the real database. A module folder may hold a file
``STANDIN_UPGRADE_FAULT`` to make the upgrade misbehave:

    fail            exit 1 with an Odoo-style traceback (a module that does not load)
    drop_database   drop the whole database, then exit 0 (a release that loses its data)
    sleep N         write $IPAI_TEST_MARKER (its pid), sleep N seconds, then upgrade

    python odoo_upgrade.py --dsn-env VAR -d DB [-u a,b] [-i c] [--series 18.0]
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql


def disk_modules(root: Path) -> dict[str, Path]:
    found = {}
    for manifest in sorted(root.glob("addons/**/__manifest__.py")):
        found.setdefault(manifest.parent.name, manifest.parent)
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn-env", required=True)
    parser.add_argument("-d", dest="database", required=True)
    parser.add_argument("-u", dest="update", default="")
    parser.add_argument("-i", dest="install", default="")
    parser.add_argument("--series", default="18.0")
    args = parser.parse_args()
    names = [n for n in (args.update + "," + args.install).split(",") if n]
    modules = disk_modules(Path.cwd())
    dsn = os.environ[args.dsn_env]
    for name in names:
        fault_file = modules[name] / "STANDIN_UPGRADE_FAULT"
        fault = fault_file.read_text().split() if fault_file.exists() else []
        if fault[:1] == ["fail"]:
            print(f"ERROR {args.database} odoo.modules.loading: Failed to load module {name}")
            print("Traceback (most recent call last):\nValueError: stand-in upgrade fault")
            return 1
        if fault[:1] == ["drop_database"]:
            with psycopg.connect(
                dsn, dbname="postgres", autocommit=True, connect_timeout=10
            ) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(args.database))
                )
            return 0
        if fault[:1] == ["sleep"]:
            Path(os.environ["IPAI_TEST_MARKER"]).write_text(str(os.getpid()))
            time.sleep(float(fault[1]))
    with psycopg.connect(dsn, dbname=args.database, connect_timeout=10) as conn:
        for name in names:
            manifest = ast.literal_eval((modules[name] / "__manifest__.py").read_text())
            version = str(manifest.get("version", "1.0"))
            if not version.startswith(args.series + "."):
                version = f"{args.series}.{version}"
            updated = conn.execute(
                "UPDATE ir_module_module SET state = 'installed', latest_version = %s "
                "WHERE name = %s",
                (version, name),
            ).rowcount
            if not updated:
                conn.execute(
                    "INSERT INTO ir_module_module (name, state, latest_version) "
                    "VALUES (%s, 'installed', %s)",
                    (name, version),
                )
            print(f"INFO {args.database} odoo.modules.loading: module {name}: {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
