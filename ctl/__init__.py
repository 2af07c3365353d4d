"""`keyraftctl`: an etcdctl-style client that speaks only etcd's JSON gateway.

Because it uses nothing but the gateway, the same binary works against keyraft and real
etcd, which is what lets the tests compare the two byte for byte.
"""

import sys

# httpx imports its own command line (rich, pygments, click: half of keyraftctl's start-up
# time) whenever those are installed; keyraftctl never uses it, and httpx falls back to a
# stub when that import fails. Only when httpx is not loaded yet (a fresh keyraftctl).
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[assignment]
