"""``make run``: the whole of Sobre on this machine.

Starts the local AWS emulators (a moto server for SES, SNS, SQS and S3, and dynalite
for DynamoDB alone: it serialises concurrent writes to one item as DynamoDB does, where
moto's server can lose one of two ADDs that create an item; and storage can be paused on
its own to watch the pixel's deadline and its fallback queue), provisions the table,
topic, configuration set, sender identity and deferred-fetch queue from
infra/template.yaml, creates a demo account and API key, and serves the API with
``chalice local``. Then the two stand-ins for what AWS does around the app:

- the outbox (``infra/outbox.py``): every message sent, as a mail client shows it; it is
  also the SES-events topic's HTTP subscriber and calls the app's ``ses_events``
  handler with every notification, as SNS and Lambda would, and it drains the
  deferred-fetch queue into the ``fetch_fallback`` handler, as Lambda's SQS event source
  would (``infra/sqs_bridge.py``);
- the senders (``SENDER_PROCESSES`` processes of ``infra/sqs_bridge.py``): each drains
  the send queue into the ``sender`` handler, paced to its share of SES's rate, at a
  lower CPU priority than the API (in AWS they never share a CPU);
- the SES event emulator (``infra/ses_emulator.py``): publishes to the topic the events
  SES would publish about every message moto accepted (Send, Delivery, Bounce, ...);
- the public door (``infra/local_door.py``): the pixel and the hosted pages through the
  ``public_door`` function, in the events of an HTTP API or, with
  ``SOBRE_LOCAL_DOOR=load-balancer``, of an Application Load Balancer (the template's
  ``PublicDoorKind``). Mail links to the API's port, as to ``ApiDomainName`` before a
  public domain is set; the same links work on the door's port.

Everything lives in the emulator's memory: stopping ``make run`` forgets every account,
key and invoice. Ctrl-C (SIGINT) or SIGTERM stops every child process.

SES accepts ``SOBRE_LOCAL_SES_RATE`` messages a second (14 by default; 0: any) and
throttles the rest as SES does (``infra/aws_emulator.py``).

Ports: ``SOBRE_PORT`` (API, 8000), ``SOBRE_AWS_PORT`` (emulator, 4566),
``SOBRE_STORAGE_PORT`` (DynamoDB emulator, 4567), ``SOBRE_OUTBOX_PORT`` (outbox, 8025),
``SOBRE_DOOR_PORT`` (public door, 8001).
Logs and ``local.env`` go to ``SOBRE_STATE_DIR`` (default ``.sobre``).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("SOBRE_STATE_DIR") or ROOT / ".sobre").resolve()
DEMO_ACCOUNT = "demo"
DEMO_SENDER = "billing@example.com"
# Sender processes (Lambda instances of the ``sender`` function): one interpreter cannot
# compose and mail 14 messages a second on a small machine while answering the API too.
SENDER_PROCESSES = 2


@dataclass(frozen=True)
class Ports:
    api: int
    aws: int
    outbox: int
    storage: int = 4567
    door: int = 8001

    @staticmethod
    def from_env() -> Ports:
        return Ports(
            api=int(os.environ.get("SOBRE_PORT", "8000")),
            aws=int(os.environ.get("SOBRE_AWS_PORT", "4566")),
            outbox=int(os.environ.get("SOBRE_OUTBOX_PORT", "8025")),
            storage=int(os.environ.get("SOBRE_STORAGE_PORT", "4567")),
            door=int(os.environ.get("SOBRE_DOOR_PORT", "8001")),
        )

    def by_variable(self) -> dict[str, int]:
        return {
            "SOBRE_PORT": self.api,
            "SOBRE_AWS_PORT": self.aws,
            "SOBRE_OUTBOX_PORT": self.outbox,
            "SOBRE_STORAGE_PORT": self.storage,
            "SOBRE_DOOR_PORT": self.door,
        }


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def check_ports(ports: Ports) -> None:
    chosen = ports.by_variable()
    if len(set(chosen.values())) < len(chosen):
        sys.exit(f"Each port must be different: {chosen}")
    for variable, port in chosen.items():
        if not port_is_free(port):
            sys.exit(
                f"Port {port} is already in use. Stop what uses it, or choose another port: "
                f"{variable}=<port> make run"
            )


def storage_command(port: int) -> list[str]:
    """dynalite (installed by ``make run`` with the other npm packages), in memory, with
    no artificial table-creation delays."""
    binary = ROOT / "node_modules" / ".bin" / "dynalite"
    if not binary.exists():
        sys.exit("dynalite is not installed: run `make install`")
    return [str(binary), "--port", str(port), "--host", "127.0.0.1", "--createTableMs", "0"]


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{process.args!r} exited with {process.returncode}; see {STATE_DIR}/*.log")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback)
                return
        except OSError as exc:
            if getattr(exc, "code", None):
                return
            time.sleep(0.2)
    sys.exit(f"{url} did not answer within {timeout}s")


class Children:
    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (STATE_DIR / f"{name}.log").open("wb")
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def door_kind() -> str:
    from infra.local_door import KINDS

    kind = os.environ.get("SOBRE_LOCAL_DOOR") or "http-api"
    if kind not in KINDS:
        sys.exit(f"SOBRE_LOCAL_DOOR={kind}: choose one of {', '.join(KINDS)}")
    return kind


def main() -> None:
    ports = Ports.from_env()
    check_ports(ports)
    kind = door_kind()
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    (STATE_DIR / "local.env").unlink(missing_ok=True)  # written again once all is up
    children = Children()

    def stop(signum: int, _frame: FrameType | None) -> None:
        children.stop()
        print("\nSobre stopped.")
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    aws_url = f"http://127.0.0.1:{ports.aws}"
    storage_url = f"http://127.0.0.1:{ports.storage}"
    api_url = f"http://localhost:{ports.api}"
    outbox_url = f"http://127.0.0.1:{ports.outbox}"
    door_url = f"http://localhost:{ports.door}"
    ses_rate = os.environ.get("SOBRE_LOCAL_SES_RATE") or "14"
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": aws_url,
        # botocore (and so pynamodb) sends DynamoDB calls here instead.
        "AWS_ENDPOINT_URL_DYNAMODB": storage_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "SOBRE_BASE_URL": api_url,
        # A fresh secret per run: the emulator forgets every invoice on exit anyway.
        "SOBRE_TOKEN_SECRET": secrets.token_urlsafe(32),
        "SOBRE_TABLE_NAME": "sobre",
        # The emulator's SES rate, and the senders': SENDER_PROCESSES processes run the
        # sender function, each paced to its share of the rate (as Lambda's instances).
        "SOBRE_LOCAL_SES_RATE": ses_rate,
        "SOBRE_SES_SEND_RATE": ses_rate,
        "SOBRE_SENDER_CONCURRENCY": str(SENDER_PROCESSES),
        "PYTHONUNBUFFERED": "1",  # children's logs as they happen
    }
    try:
        # moto's server with SES's send rate (SOBRE_LOCAL_SES_RATE, 14/s by default).
        moto = children.start(
            "aws",
            [sys.executable, "-m", "infra.aws_emulator", "-H", "127.0.0.1", "-p", str(ports.aws)],
            env,
        )
        storage = children.start("storage", storage_command(ports.storage), env)
        wait_for(f"{aws_url}/moto-api/", moto)
        wait_for(storage_url, storage)
        (STATE_DIR / "storage.pid").write_text(f"{storage.pid}\n")
        topic_arn, queue_url, send_queue_url = provision(env)
        env["SOBRE_FETCH_QUEUE_URL"] = queue_url
        env["SOBRE_SEND_QUEUE_URL"] = send_queue_url
        api_key = create_key(env)
        chalice = children.start(
            "api",
            [
                sys.executable,
                "-m",
                "infra.chalice_local",  # chalice local, with a real listen backlog
                "local",
                "--host",
                "127.0.0.1",
                "--port",
                str(ports.api),
                "--stage",
                "local",
                "--no-autoreload",
            ],
            env,
        )
        wait_for(f"{api_url}/health", chalice)
        events_env = {**env, "SOBRE_EVENTS_TOPIC_ARN": topic_arn}
        outbox = children.start(
            "outbox",
            [sys.executable, "-m", "infra.outbox", "--port", str(ports.outbox)],
            events_env,
        )
        wait_for(f"{outbox_url}/health", outbox)
        children.start("ses-events", [sys.executable, "-m", "infra.ses_emulator"], events_env)
        for n in range(SENDER_PROCESSES):
            command = [sys.executable, "-m", "infra.sqs_bridge", "--function", "sender"]
            children.start(f"sender-{n + 1}", command, env)
        door_command = ["infra.local_door", "--port", str(ports.door), "--kind", kind]
        door = children.start("door", [sys.executable, "-m", *door_command], env)
        wait_for(f"{door_url}/", door)
    except BaseException:
        children.stop()
        raise
    write_local_env(env, api_url, outbox_url, topic_arn, api_key, door_url)
    print_banner(api_url, outbox_url, aws_url, storage_url, topic_arn, api_key, door_url, kind)
    while True:
        for process in children.processes:
            if process.poll() is not None:
                children.stop()
                sys.exit(f"{process.args!r} stopped unexpectedly; see {STATE_DIR}/*.log")
        time.sleep(1)


def _run(module: list[str], env: dict[str, str]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", *module],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(result.stderr)
    return result.stdout.strip().splitlines()


def provision(env: dict[str, str]) -> tuple[str, str, str]:
    """The topic's ARN, the deferred-fetch queue's URL and the send queue's."""
    topic_arn, queue_url, send_queue_url = _run(["infra.local_stack", "provision"], env)[-3:]
    return topic_arn, queue_url, send_queue_url


def create_key(env: dict[str, str]) -> str:
    command = ["tools.admin", "api-key", "--account", DEMO_ACCOUNT, "--from", DEMO_SENDER]
    return _run(command, env)[-1]


def write_local_env(
    env: dict[str, str],
    api_url: str,
    outbox_url: str,
    topic_arn: str,
    api_key: str,
    door_url: str,
) -> None:
    lines = {
        "SOBRE_API_URL": api_url,
        "SOBRE_DOOR_URL": door_url,
        "SOBRE_OUTBOX_URL": outbox_url,
        "AWS_ENDPOINT_URL": env["AWS_ENDPOINT_URL"],
        "AWS_ENDPOINT_URL_DYNAMODB": env["AWS_ENDPOINT_URL_DYNAMODB"],
        "SOBRE_FETCH_QUEUE_URL": env["SOBRE_FETCH_QUEUE_URL"],
        "SOBRE_SEND_QUEUE_URL": env["SOBRE_SEND_QUEUE_URL"],
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "SOBRE_EVENTS_TOPIC_ARN": topic_arn,
        "SOBRE_API_KEY": api_key,
        # This run's tracking-token secret (local only; the file is mode 600, git-ignored),
        # so operator commands such as `tools.admin run-schedule` can build links.
        "SOBRE_TOKEN_SECRET": env["SOBRE_TOKEN_SECRET"],
        "SOBRE_BASE_URL": api_url,
    }
    # Written whole then renamed: whoever waits for the file never reads half of it.
    path = STATE_DIR / "local.env"
    partial = path.with_suffix(".partial")
    partial.write_text("".join(f"export {k}={v}\n" for k, v in lines.items()))
    partial.chmod(0o600)
    partial.replace(path)


def print_banner(
    api_url: str,
    outbox_url: str,
    aws_url: str,
    storage_url: str,
    topic_arn: str,
    api_key: str,
    door_url: str,
    kind: str,
) -> None:
    from infra.local_door import KINDS

    env_file = STATE_DIR / "local.env"
    shown = env_file.relative_to(ROOT) if env_file.is_relative_to(ROOT) else env_file
    print(
        f"""
Sobre is running (Ctrl-C stops everything; the emulator keeps data in memory only).

  API               {api_url}
  Outbox            {outbox_url}/   (every message sent; opening one loads its pixel)
  Dashboard         {api_url}/   (sign in with the demo key)
  Public door       {door_url}   (/t/ and /v/ as {KINDS[kind]} passes them;
                    SOBRE_LOCAL_DOOR=http-api | load-balancer)
  AWS emulator      {aws_url}   (SES, SNS, SQS, S3)
  DynamoDB emulator {storage_url}   (pause it to see the pixel's deadline:
                    kill -STOP / -CONT the pid in {STATE_DIR.name}/storage.pid)
  SES events topic  {topic_arn}
                    (SES events emulated: Send, Delivery, Bounce, Complaint; try
                     bounce@ / complaint@ / ooto@ / suppressionlist@simulator.amazonses.com)
  Demo account      {DEMO_ACCOUNT} (sender {DEMO_SENDER})
  Demo API key      {api_key}

  source {shown}          # SOBRE_API_URL, SOBRE_API_KEY, AWS_ENDPOINT_URL, ...
  make demo                        # send a few invoices through the API
  make api-key ACCOUNT=acme        # another account's key (FROM=<address> to choose its sender)
""",
        flush=True,
    )


if __name__ == "__main__":
    main()
