"""Entry point of the test bed's database container: a PostgreSQL server from the host's
Debian binaries (bound read-only), with a fresh cluster in the container's own layer.

    python pg_entry.py BINDIR PORT
"""

import os
import subprocess
import sys

DATA = "/var/tmp/pgdata"


def main() -> None:
    bindir, port = sys.argv[1], sys.argv[2]
    if not os.path.exists(os.path.join(DATA, "PG_VERSION")):
        subprocess.run(
            [f"{bindir}/initdb", "-D", DATA, "-U", "postgres", "-A", "trust", "--no-sync"],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=120,
        )
    server = f"{bindir}/postgres"
    options = ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=/var/tmp"]
    os.execv(server, [server, "-D", DATA, "-p", port, "-c", "fsync=off", *options])


if __name__ == "__main__":
    main()
