"""A thin bridge between a Jupyter kernel and the TypeScript executor (lib/notebook/kernel.ts).

It starts the kernel with jupyter_client, then relays, as JSON lines:
  stdin  <- {"op": "execute", "msg_id": ..., "code": ..., "silent": ..., "store_history": ...}
            {"op": "shutdown"}
  stdout -> {"event": "ready"} once the kernel answers kernel_info,
            {"channel": "iopub"|"shell", "msg_type", "msg_id", "parent_msg_id", "content"}
            for every kernel message, and {"event": "dead"} if the kernel process exits.
All logic about which output belongs to which cell lives in TypeScript; this file only moves
messages, so it stays small enough to trust.

Usage: python3 kernel_bridge.py KERNEL_NAME CWD STARTUP_TIMEOUT_S
"""

import json
import os
import sys

import time

import zmq
from jupyter_client.manager import KernelManager


def main():
    kernel_name, cwd, startup_timeout_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
    # The protocol owns fd 1; the kernel inherits fd 1 too, so point that at stderr to keep
    # anything the kernel prints out of the JSON stream.
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)

    def emit(obj):
        protocol.write(json.dumps(obj, default=str) + "\n")
        protocol.flush()

    km = KernelManager(kernel_name=kernel_name)
    km.start_kernel(cwd=cwd, env=dict(os.environ))
    # Plain synchronous sockets: jupyter_client 7's own clients wrap asyncio sockets, which
    # cannot share one zmq.Poller with stdin.
    context = zmq.Context()
    info = km.get_connection_info()
    url = f"{info['transport']}://{info['ip']}"
    shell = context.socket(zmq.DEALER)
    shell.linger = 0
    shell.connect(f"{url}:{info['shell_port']}")
    iopub = context.socket(zmq.SUB)
    iopub.linger = 0
    iopub.setsockopt(zmq.SUBSCRIBE, b"")
    iopub.connect(f"{url}:{info['iopub_port']}")
    try:
        if not wait_for_ready(km, km.session, shell, iopub, startup_timeout_s):
            sys.stderr.write(f"kernel {kernel_name} gave no kernel_info_reply in {startup_timeout_s} s\n")
            return
        # The kernel leads its own process group; the executor owns it and ends it on exit.
        pgid = getattr(getattr(km, "provisioner", None), "pgid", None)
        emit({"event": "ready", "kernel_pgid": pgid} if isinstance(pgid, int) else {"event": "ready"})
        relay(km, km.session, shell, iopub, emit)
    finally:
        if km.is_alive():
            km.shutdown_kernel(now=True)
        context.destroy(linger=0)


def wait_for_ready(km, session, shell, iopub, timeout_s):
    """Asks kernel_info until the shell replies and iopub has delivered a message, so the
    subscription is live before the first cell runs."""
    poller = zmq.Poller()
    poller.register(shell, zmq.POLLIN)
    poller.register(iopub, zmq.POLLIN)
    deadline = time.monotonic() + timeout_s
    replied = subscribed = False
    while time.monotonic() < deadline and km.is_alive():
        # Each request makes the kernel publish busy/idle on iopub: the proof of subscription.
        session.send(shell, "kernel_info_request", {})
        end = time.monotonic() + 1.0
        while time.monotonic() < end and not (replied and subscribed):
            for socket, _ in poller.poll(100):
                _, msg = session.recv(socket, mode=zmq.NOBLOCK)
                if msg is None:
                    continue
                if socket is shell and msg["header"]["msg_type"] == "kernel_info_reply":
                    replied = True
                if socket is iopub:
                    subscribed = True
        if replied and subscribed:
            return True
    return False


def relay(km, session, shell, iopub, emit):
    stdin_fd = sys.stdin.fileno()
    poller = zmq.Poller()
    poller.register(shell, zmq.POLLIN)
    poller.register(iopub, zmq.POLLIN)
    poller.register(stdin_fd, zmq.POLLIN)
    pending = b""
    while True:
        ready = dict(poller.poll(1000))
        if not ready and not km.is_alive():
            emit({"event": "dead"})
            return
        for socket, channel in ((iopub, "iopub"), (shell, "shell")):
            if socket in ready:
                _, msg = session.recv(socket, mode=zmq.NOBLOCK)
                if msg is not None:
                    emit({
                        "channel": channel,
                        "msg_type": msg["header"]["msg_type"],
                        "msg_id": msg["header"]["msg_id"],
                        "parent_msg_id": msg["parent_header"].get("msg_id"),
                        "content": msg["content"],
                    })
        if stdin_fd in ready:
            chunk = os.read(stdin_fd, 1 << 16)
            if not chunk:
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip() and not command(session, shell, json.loads(line)):
                    return


def command(session, shell, request):
    """Sends one request to the kernel; False when asked to stop."""
    if request["op"] == "shutdown":
        return False
    if request["op"] != "execute":
        raise ValueError(f"unknown op {request['op']!r}; allowed: execute, shutdown")
    msg = session.msg("execute_request", {
        "code": request["code"],
        "silent": request["silent"],
        "store_history": request["store_history"],
        "user_expressions": {},
        "allow_stdin": False,
        "stop_on_error": False,
    })
    # The caller picks the id so it can attribute replies without a round trip.
    msg["header"]["msg_id"] = request["msg_id"]
    msg["msg_id"] = request["msg_id"]
    session.send(shell, msg)
    return True


if __name__ == "__main__":
    main()
