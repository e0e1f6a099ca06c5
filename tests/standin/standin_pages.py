"""What the Odoo stand-in serves, shaped on a real Odoo 18.0 server without the website module:
the login page (no generator tag; ``odoo.__session_info__``, a csrf token, three asset
bundles), ``/web/webclient/version_info`` over JSON-RPC, the asset bundles (with the broken
SCSS, broken JS and missing-file faults) and the websocket handshake."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time

BUNDLES = {
    "web.assets_frontend.min.css": "text/css; charset=utf-8",
    "web.assets_frontend_minimal.min.js": "application/javascript; charset=utf-8",
    "web.assets_frontend_lazy.min.js": "application/javascript; charset=utf-8",
}
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def bundle_hash(name: str, faults: frozenset[str]) -> str:
    """Seven hex characters, changing when the bundle's content changes (as Odoo's do)."""
    return hashlib.sha1(f"{name}|{sorted(faults)}".encode()).hexdigest()[:7]


def csrf_token() -> str:
    return secrets.token_hex(20) + "o" + str(int(time.time()) + 31_536_000)


def login_page(series: str, faults: frozenset[str], neutralized: bool = False) -> bytes:
    token = csrf_token()
    css, minimal, lazy = (f"/web/assets/{bundle_hash(n, faults)}/{n}" for n in BUNDLES)
    info = {
        "is_admin": False,
        "is_public": True,
        "uid": None,
        "is_frontend": True,
        "bundle_params": {"lang": "en_US"},
        "test_mode": False,
        "websocket_worker_version": f"{series}-5",
    }
    robots = '<meta name="robots" content="noindex, nofollow"/>' if neutralized else ""
    page = f"""<!DOCTYPE html>
<html style="height: 100%;">
    <head>
        <meta charset="utf-8"/>{robots}
        <title>Odoo</title>
        <link type="image/x-icon" rel="shortcut icon" href="/web/static/img/favicon.ico"/>
        <link type="text/css" rel="stylesheet" href="{css}"/>
        <script id="web.layout.odooscript" type="text/javascript">
            var odoo = {{
                csrf_token: "{token}",
                debug: "",
            }};
        </script>
        <script type="text/javascript">
            odoo.__session_info__ = {json.dumps(info)};
        </script>
        <script type="text/javascript" defer="defer" src="{minimal}" onerror="__odooAssetError=1"></script>
        <script type="text/javascript" defer="defer" data-src="{lazy}" onerror="__odooAssetError=1"></script>
    </head>
    <body class="bg-100">
        <div id="wrapwrap" class="">
            <form role="form" method="post" class="oe_login_form" action="/web/login">
                <input type="hidden" name="csrf_token" value="{token}"/>
            </form>
            <a href="https://www.odoo.com?utm_source=db&amp;utm_medium=auth" target="_blank">Powered by <span>Odoo</span></a>
        </div>
    </body>
</html>
"""
    return page.encode()


def version_info(series: str, request_id: object) -> bytes:
    major, minor = (int(x) for x in series.split(".")[:2])
    result = {
        "server_version": series,
        "server_version_info": [major, minor, 0, "final", 0, ""],
        "server_serie": series,
        "protocol_version": 1,
    }
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}).encode()


def json_type_mismatch(path: str) -> bytes:
    return (
        "<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n"
        f"<p>Request inferred type is compatible with [&#39;http&#39;] but &#39;{path}&#39; is "
        "type=&#39;json&#39;.</p>\n"
    ).encode()


CSS_ERROR_BLOCK = """/* ## CSS error message ##*/
body::before {
  font-weight: bold;
  content: "A css error occured, using an old style to render this page";
  position: fixed;
  left: 0;
  bottom: 0;
  z-index: 100000000000;
  background-color: #C00;
  color: #DDD;
}

css_error_message {
  content: "Error: Invalid CSS after \\"}\\": expected \\"}\\", was \\"\\"\\A        on line 9305:2 of stdin";
}
"""
SCSS_WARNING = (
    'Error: Invalid CSS after "}": expected "}", was ""\n        on line 9305:2 of stdin\n'
    ">>     }\n   -^\nThis error occurred while compiling the bundle 'web.assets_frontend' "
    "containing:\n    - /web/static/lib/bootstrap/scss/_functions.scss\n"
    "    - /standin_badscss/static/src/bad.scss"
)
MISSING_ASSET = "standin_badjs/static/src/does_not_exist.js"


def bundle_body(name: str, faults: frozenset[str]) -> tuple[bytes, str | None, str | None]:
    """(body, WARNING to log, ERROR to log) for one bundle, with the faults switched on."""
    if name.endswith(".css"):
        if "broken-scss" in faults:
            return CSS_ERROR_BLOCK.encode(), SCSS_WARNING, None
        return b"body{margin:0}.o_login_form{display:block}\n" * 20, None, None
    if name == "web.assets_frontend_minimal.min.js":
        body = "odoo.define('@web/start',[],function(require){'use strict';return {};});\n"
        if "broken-js" in faults:
            body += (
                "odoo.define('@standin_badjs/bad',[],function(require){'use strict';"
                "function oddfacts({return 1;} return oddfacts;});\n"
            )
        return body.encode(), None, None
    body = "odoo.define('@web/lazy',[],function(require){'use strict';return 1;});\n"
    if "missing-asset" in faults:
        message = f"'Could not get content for {MISSING_ASSET}.' in file '{MISSING_ASSET}'"
        body += f'console.error("{message}");\n'
        return body.encode(), None, message
    return body.encode(), None, None


def websocket_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
