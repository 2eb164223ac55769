"""A throwaway TCP line-echo server for the chaos tests: ``echo_server.py PORT``.

One thread per connection; each line is answered at once. Exits when its parent is gone, so a
test never leaves it running even if the test process dies.
"""

from __future__ import annotations

import os
import socketserver
import sys
import threading
import time


class _Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:
            self.wfile.write(line)
            self.wfile.flush()


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(0)


def main() -> None:
    server = _Server(("127.0.0.1", int(sys.argv[1])), _Echo)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
