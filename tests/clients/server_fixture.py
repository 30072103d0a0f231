"""Start a memcached-compatible server on a free loopback port, wait for it, stop it.

Used by the client test scripts in this directory; also usable by hand:

    python3 server_fixture.py --server "/usr/bin/memcached" -- -m 64
    (prints the port, keeps the server running until Ctrl-C)

The server command is a shell-like string (split with shlex), taken from
``--server`` or else the environment variable CACHE_SERVER_COMMAND, or else
/usr/bin/memcached.  The fixture appends

    -l 127.0.0.1 -p PORT -U 0

and, when running as root (euid 0) and the command has no ``-u`` of its own,
``-u root`` (memcached refuses to run as root without it; connkit's
cache_server accepts the same flag).
"""

import argparse
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time

DEFAULT_SERVER = "/usr/bin/memcached"
HOST = "127.0.0.1"

# Exit code understood by ctest's SKIP_RETURN_CODE.
SKIP = 77


class ServerStartError(RuntimeError):
    pass


def server_command_from(arg=None):
    """The server command as a list: argument, then $CACHE_SERVER_COMMAND, then memcached."""
    text = arg or os.environ.get("CACHE_SERVER_COMMAND") or DEFAULT_SERVER
    argv = shlex.split(text)
    if not argv:
        raise ServerStartError("empty server command")
    return argv


def free_port():
    """A port that was free a moment ago: bind port 0 on loopback, read it, release it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _listening_inodes(port):
    """Socket inodes of loopback/any TCP listeners on `port` (Linux /proc), or None."""
    inodes = set()
    found_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        found_table = True
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes if found_table else None


def _owns_listener(pid, port):
    """True if process `pid` holds a listening socket on `port`; None if it cannot be told."""
    inodes = _listening_inodes(port)
    if inodes is None:
        return None
    fd_dir = "/proc/%d/fd" % pid
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return None
    for fd in fds:
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


class Server:
    """One server process on a free loopback port.

    Use as a context manager:

        with Server(["/usr/bin/memcached"], extra_args=["-m", "64"]) as srv:
            connect to (srv.host, srv.port)
    """

    def __init__(self, command, extra_args=(), start_timeout=10.0, stop_timeout=5.0,
                 attempts=5, name="server", quiet=False):
        self.command = list(command)
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.attempts = attempts
        self.name = name
        self.quiet = quiet
        self.host = HOST
        self.port = None
        self.proc = None
        self._log = None

    # -- argv -------------------------------------------------------------
    def argv(self, port):
        argv = list(self.command) + list(self.extra_args)
        if hasattr(os, "geteuid") and os.geteuid() == 0 and "-u" not in argv[1:]:
            argv += ["-u", "root"]
        argv += ["-l", HOST, "-p", str(port), "-U", "0"]
        return argv

    # -- lifecycle --------------------------------------------------------
    def start(self):
        if not os.path.exists(self.command[0]) and "/" in self.command[0]:
            raise ServerStartError("%s: no such file: %s" % (self.name, self.command[0]))
        last_error = None
        for attempt in range(1, self.attempts + 1):
            port = free_port()
            try:
                self._start_on(port)
                return self
            except _PortLost as e:
                last_error = e
                self._log_line("%s: port %d lost (%s), retrying (attempt %d/%d)"
                               % (self.name, port, e, attempt, self.attempts))
        raise ServerStartError("%s: could not start after %d attempts: %s"
                               % (self.name, self.attempts, last_error))

    def _start_on(self, port):
        argv = self.argv(port)
        self._log = tempfile.TemporaryFile(prefix="connkit-server-log-")
        self._log_line("%s: starting: %s" % (self.name, " ".join(shlex.quote(a) for a in argv)))
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        except OSError as e:
            raise ServerStartError("%s: cannot execute %s: %s" % (self.name, argv[0], e))
        self.port = port
        deadline = time.monotonic() + self.start_timeout
        delay = 0.005
        while True:
            code = self.proc.poll()
            if code is not None:
                output = self.output()
                if _looks_like_bind_failure(output):
                    raise _PortLost("server exited with %d: %s" % (code, output.strip()[-300:]))
                raise ServerStartError("%s exited with status %d before accepting connections;"
                                       " output:\n%s" % (self.name, code, output))
            if _can_connect(HOST, port):
                owns = _owns_listener(self.proc.pid, port)
                if owns is None or owns:
                    return
                # Something else answers on this port: is our process about to fail?
            if time.monotonic() >= deadline:
                output = self.output()
                self.stop()
                raise ServerStartError("%s did not accept connections on %s:%d within %.1f s;"
                                       " output:\n%s" % (self.name, HOST, port,
                                                         self.start_timeout, output))
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def terminate(self):
        """Send SIGTERM without waiting (stop() later waits, then kills if needed)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self):
        """SIGTERM, then SIGKILL after stop_timeout. Returns the exit status (or None)."""
        if self.proc is None:
            return None
        code = self.proc.poll()
        if code is None:
            self.terminate()
            try:
                code = self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._log_line("%s: did not exit %.1f s after SIGTERM, killing"
                               % (self.name, self.stop_timeout))
                self.proc.kill()
                code = self.proc.wait(timeout=self.stop_timeout)
        return code

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def output(self):
        """Everything the server printed so far (stdout and stderr)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def _log_line(self, text):
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None
        return False

    @property
    def address(self):
        return (self.host, self.port)


class _PortLost(Exception):
    pass


def _looks_like_bind_failure(output):
    text = output.lower()
    return ("address already in use" in text or "failed to listen" in text
            or "bind" in text and "in use" in text)


def _can_connect(host, port, timeout=0.2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def add_server_arguments(parser):
    parser.add_argument("--server", default=None,
                        help="server command (shell-like string); default $CACHE_SERVER_COMMAND"
                             " or " + DEFAULT_SERVER + ". The fixture appends"
                             " -l 127.0.0.1 -p PORT -U 0 (and -u root as root).")
    parser.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for the server (repeatable), e.g. --server-arg=-t2")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_arguments(parser)
    parser.add_argument("extra", nargs="*", help="extra server arguments (after --)")
    args = parser.parse_args(argv)
    with Server(server_command_from(args.server), args.server_arg + args.extra) as srv:
        print("listening on %s:%d (pid %d); Ctrl-C stops it" % (srv.host, srv.port, srv.proc.pid),
              flush=True)
        try:
            while srv.alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        print(srv.output(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
