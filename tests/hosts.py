"""Hosts on one machine for the tests that go past it: each host is a network namespace of its
own, wired to a bridge in this (the root) namespace by a veth pair, with a state folder of its own.

    root namespace:  bridge  10.78.S.1   (Redis and the S3 server listen here, and on loopback)
                       |  \\  \\
    host namespaces:  10.78.S.2, .3, ...  (only lo and their end of the veth: no other route)

A process started on a host (`Host.start`) runs under `ip netns exec`, which execs the command, so
its pid is the command's. Its loopback is its namespace's own: what it reaches of this machine is
only what listens on the bridge's address. Building namespaces needs root (CAP_NET_ADMIN); the
`Bridge` says why it cannot, for the test to skip with.
"""

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from service.local.stack import Child

STOP_GRACE_S = 15.0


class NetworkRefused(RuntimeError):
    """This machine will not let us build namespaces or bridges (not root, no `ip`, a sandbox)."""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Host:
    """One machine of the picture: a namespace, its address on the bridge, an empty state folder."""

    name: str
    netns: str
    address: str
    state_dir: Path
    children: list[Child] = field(default_factory=list)

    @property
    def processes(self) -> list[subprocess.Popen]:
        return [child.process for child in self.children]

    def start(self, command: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen:
        """`command` inside this host's namespace, with `env` and GANFORGE_STATE_DIR set to the host's
        folder, started as `make run` starts its processes (service/local/stack.py)."""
        child = Child(log_name, ["ip", "netns", "exec", self.netns, *command],
                      {**env, "GANFORGE_STATE_DIR": str(self.state_dir)}, self.state_dir / f"{log_name}.log")
        self.children.append(child)
        return child.start()

    def connects(self, address: str, port: int) -> bool:
        """Whether a TCP connection from inside this host to `address:port` is accepted."""
        probe = (f"import socket; s = socket.socket(); s.settimeout(2); "
                 f"print(s.connect_ex(({address!r}, {port})))")
        answer = subprocess.run(["ip", "netns", "exec", self.netns, sys.executable, "-c", probe],
                                capture_output=True, text=True, check=False)
        return answer.stdout.strip() == "0"

    def stop(self) -> None:
        """Stop what runs here as `make run` stops a process: SIGTERM, then SIGKILL if it has not
        gone 15 s later (one after another: a host runs one process or two)."""
        for child in self.children:
            child.stop_gracefully(STOP_GRACE_S)


class Bridge:
    """A bridge in the root namespace and the hosts joined to it; `close` removes every one of them.

    Names carry this process's id, so two test runs on one machine build apart (the subnet too,
    from the same id, as far as 250 subnets go)."""

    def __init__(self, root: Path):
        self.root = root
        self.tag = os.getpid() % 100000
        self.subnet = f"10.78.{self.tag % 250}"
        self.address = f"{self.subnet}.1"
        self.device = f"gfbr{self.tag}"
        self.hosts: list[Host] = []
        self._namespaces: list[str] = []
        self._veths: list[str] = []
        try:
            ip("link", "add", self.device, "type", "bridge")
        except (OSError, subprocess.CalledProcessError) as refused:
            raise NetworkRefused(f"cannot add a bridge: {getattr(refused, 'stderr', None) or refused}") from None
        try:
            ip("addr", "add", f"{self.address}/24", "dev", self.device)
            ip("link", "set", self.device, "up")
        except subprocess.CalledProcessError:
            self.close()
            raise

    def add_host(self, name: str) -> Host:
        """A new namespace on the bridge, with the next free address and an empty folder."""
        number = len(self._namespaces) + 2  # .1 is the bridge
        netns, veth = f"gf{self.tag}-{name}", f"gf{self.tag}v{number}"
        try:
            ip("netns", "add", netns)
        except (OSError, subprocess.CalledProcessError) as refused:
            raise NetworkRefused(f"`ip netns add` is not permitted here: {getattr(refused, 'stderr', refused)}") from None
        self._namespaces.append(netns)
        address = f"{self.subnet}.{number}"
        ip("link", "add", f"{veth}h", "type", "veth", "peer", "name", f"{veth}n")
        self._veths.append(f"{veth}h")
        ip("link", "set", f"{veth}h", "master", self.device)
        ip("link", "set", f"{veth}h", "up")
        ip("link", "set", f"{veth}n", "netns", netns)
        inside = ("netns", "exec", netns, "ip")
        ip(*inside, "addr", "add", f"{address}/24", "dev", f"{veth}n")
        ip(*inside, "link", "set", f"{veth}n", "up")
        ip(*inside, "link", "set", "lo", "up")
        state_dir = self.root / name
        state_dir.mkdir(parents=True)
        host = Host(name, netns, address, state_dir)
        self.hosts.append(host)
        return host

    def remove(self, host: Host) -> None:
        """The host is gone: its processes stopped, its namespace (and its veth pair) deleted."""
        host.stop()
        subprocess.run(["ip", "netns", "del", host.netns], capture_output=True, check=False)

    def stop_processes(self) -> None:
        for host in self.hosts:
            host.stop()

    def close(self) -> None:
        self.stop_processes()
        for netns in self._namespaces:  # deleting a namespace deletes its veth end, and so the pair
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)
        for veth in self._veths:  # one never moved into its namespace (a failure half-way) is still here
            subprocess.run(["ip", "link", "del", veth], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", self.device], capture_output=True, check=False)
