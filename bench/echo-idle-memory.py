#!/usr/bin/python3
"""RSS per idle connection of connkit's echo_server and of asio_echo (a benchmark, not a test).

Usage: bench/echo-idle-memory.py [BUILD_DIR] [CONNECTIONS]   (defaults: build/release 5000)

Starts each server with -t 1 on a free loopback port, opens CONNECTIONS connections, makes one
32-byte round trip on each (so every connection has been served), and prints the growth of the
server's VmRSS divided by CONNECTIONS.
"""
import resource
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wait_listening(port, deadline):
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


def measure(command, count):
    port = free_port()
    server = subprocess.Popen(command + ["-p", str(port), "-t", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, time.monotonic() + 10)
        time.sleep(0.2)  # let the probe connection's close settle before the baseline
        base = rss_kib(server.pid)
        conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        for c in conns:
            c.sendall(b"x" * 32)
        for c in conns:
            got = b""
            while len(got) < 32:
                chunk = c.recv(64)
                if not chunk:
                    raise RuntimeError("server closed a connection")
                got += chunk
        after = rss_kib(server.pid)
        for c in conns:
            c.close()
        return (after - base) * 1024 / count
    finally:
        server.terminate()
        server.wait()


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build/release"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    resource.setrlimit(resource.RLIMIT_NOFILE, (count + 100, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    connkit = measure([f"{build}/examples/echo_server/echo_server", "-c", str(count + 10)], count)
    asio = measure([f"{build}/bench/asio_echo/asio_echo"], count)
    print(f"connkit echo_server: {connkit:.0f} bytes per idle connection")
    print(f"asio_echo:           {asio:.0f} bytes per idle connection")
    print(f"connkit/asio = {connkit / asio:.2f}")


if __name__ == "__main__":
    main()
