"""server.py on a free loopback port, for the check scripts that talk to it over HTTP."""

import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def start_server() -> tuple[subprocess.Popen[bytes], int]:
    """server.py on a free loopback port, once it accepts connections (exits 1 if it does not)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "server.py", "-H", "127.0.0.1", "-p", str(port)],
        cwd=HERE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                print("FAIL server.py did not listen")
                sys.exit(1)
            time.sleep(0.1)
