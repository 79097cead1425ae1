"""moto server as a child process of the local stack: `python -m local.moto_process HOST PORT`.

Its own process keeps moto's work off the stack's GIL. It exits when its stdin closes, so a stack that dies
without cleaning up (SIGKILL) does not leave a moto server holding the port.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading


def _exit_when_parent_goes() -> None:
    sys.stdin.buffer.read()  # returns at EOF: the parent closed the pipe or died
    os._exit(0)


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    threading.Thread(target=_exit_when_parent_goes, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the stack decides when moto stops

    from moto.server import ThreadedMotoServer

    from local.moto_patches import apply as apply_moto_patches

    apply_moto_patches()
    # werkzeug logs every request at INFO: a seventh of the server's time under load, and nobody reads it.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    print(f"moto listening on http://{host}:{port}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
