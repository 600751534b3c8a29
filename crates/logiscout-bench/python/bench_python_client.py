"""The Python client, logiscout-logger 1.0.1, on logiscout's benchmark record: ns per log call in a request.

Measures: the cost of one ``logger.info("Order created okay!!", user_id=i, ratio=0.25, region="eu-west-1")``
made inside a request handled by the client's own ``wsgiConfiguration`` middleware (how its README says a
Flask or Django request looks), in ``PROD`` mode, shipping to a local ``logiscout-sink``; then how many of the
logged records reached the sink.

Run it through ``scripts/bench-python.sh`` (which makes the venv, installs the client and starts the sink):

    python3 bench_python_client.py --sink http://127.0.0.1:PORT --token TOKEN --out target/bench-results/python.json \
        [--calls 20000] [--repeats 5] [--warmup 2000] [--logs-per-request 100]

Writes ``--out`` (``target/bench-results/python.json``):
``{"client", "python", "calls_per_repeat", "repeats", "ns_per_call", "median_ns_per_call", "logged",
"delivered", "console", "url_patched_to"}``.

How, and why so (read from the installed package's source):

* The ingest URL is the module constant ``logiscout_logger.logger._ENDPOINT_URL`` (a public address in 1.0.1);
  ``init`` reads it when it builds the ``HTTPTransport``. It is replaced with the sink's
  ``http://127.0.0.1:PORT/ingest`` before ``init``, checked on the transport afterwards, and every socket
  connect of the process to anything but loopback is refused, so nothing can leave the machine.
* Records are shipped only when logged inside a request buffer, which the middleware opens. Each request
  here is a real call of ``wsgiConfiguration`` around a tiny WSGI app that makes ``--logs-per-request``
  calls; only those calls are timed (``time.perf_counter_ns`` around the handler's loop), not the
  middleware. At the end of each request the middleware hands the request's payload to the
  ``BatchManager``, which POSTs synchronously on that same thread whenever 200 logs are waiting.
* Console output cannot be turned off: ``init`` always installs structlog's ``ConsoleRenderer`` writing
  through ``logging.basicConfig`` to standard error. So the process's standard output and error are
  redirected to /dev/null for the whole measurement; this script's own messages go to the original
  standard error.
* The client keeps at most 200 logs of one request per flush (the rest wait for the next flush, and at exit
  only one more flush happens), so a request with more than 200 logs loses records; the default of 100
  logs per request keeps every record, which the delivered count checks.
"""

import argparse
import importlib.metadata
import io
import ipaddress
import json
import os
import platform
import socket
import statistics
import sys
import time
import traceback
import urllib.request

MESSAGE = "Order created okay!!"
CORRELATION_ID = "bench-request-0001"


def refuse_non_loopback():
    """Makes every connect of this process to a non-loopback address fail (belt and braces)."""
    original = socket.socket.connect

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConnectionRefusedError(f"bench: refusing to connect to non-loopback {address!r}")
        return original(self, address)

    socket.socket.connect = connect


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sink", required=True, help="the sink's base URL, http://127.0.0.1:PORT")
    p.add_argument("--token", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--calls", type=int, default=20_000, help="timed calls per repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2_000, help="untimed calls first")
    p.add_argument("--logs-per-request", type=int, default=100)
    args = p.parse_args(argv)
    if min(args.calls, args.repeats, args.logs_per_request) < 1 or args.warmup < 0:
        p.error("--calls, --repeats and --logs-per-request must be positive, --warmup not negative")
    if args.calls % args.logs_per_request or args.warmup % args.logs_per_request:
        p.error("--calls and --warmup must be multiples of --logs-per-request")
    return args


def main(args, say):
    version = importlib.metadata.version("logiscout-logger")
    if version != "1.0.1":
        raise SystemExit(f"logiscout-logger {version} is installed, not 1.0.1")

    refuse_non_loopback()
    import logiscout_logger
    import logiscout_logger.logger as core
    from logiscout_logger import PROD, get_logger, init, wsgiConfiguration

    original_url = core._ENDPOINT_URL
    url = args.sink.rstrip("/") + "/ingest"
    core._ENDPOINT_URL = url
    init(api_token=args.token, service_name="bench", env=PROD)
    transport = core._transport
    if transport is None or transport._endpoint_url != url or core.get_batch_manager() is None:
        raise SystemExit("init did not set up PROD shipping to the patched URL")
    say(f"logiscout-logger {version} (its __version__ says {logiscout_logger.__version__}); "
        f"ingest URL {original_url} patched to {url}")

    log = get_logger("bench")
    timed = [0]  # ns spent in the handler's log calls, for the current repeat

    def handler(environ, start_response):
        first = environ["bench.first"]
        n = environ["bench.n"]
        info = log.info
        t0 = time.perf_counter_ns()
        for i in range(first, first + n):
            info(MESSAGE, user_id=i, ratio=0.25, region="eu-west-1")
        timed[0] += time.perf_counter_ns() - t0
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    app = wsgiConfiguration(handler)

    def start_response(status, headers, exc_info=None):
        return None

    def request(first, n):
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/orders",
            "HTTP_X_CORRELATION_ID": CORRELATION_ID,
            "wsgi.input": io.BytesIO(b""),
            "bench.first": first,
            "bench.n": n,
        }
        for _ in app(environ, start_response):
            pass

    def run(calls):
        """`calls` log calls in requests of --logs-per-request; returns (ns timed, wall ns in all)."""
        timed[0] = 0
        k = args.logs_per_request
        wall0 = time.perf_counter_ns()
        for first in range(0, calls, k):
            request(first, k)
        return timed[0], time.perf_counter_ns() - wall0

    logged = 0
    if args.warmup:
        run(args.warmup)
        logged += args.warmup
    per_call, per_call_wall = [], []
    for _ in range(args.repeats):
        ns, wall = run(args.calls)
        logged += args.calls
        per_call.append(ns / args.calls)
        per_call_wall.append(wall / args.calls)

    core._shutdown_batch_manager()  # what atexit would do: the final flush
    with urllib.request.urlopen(args.sink.rstrip("/") + "/stats", timeout=10) as resp:
        stats = json.load(resp)

    result = {
        "client": "logiscout-logger 1.0.1",
        "python": platform.python_version(),
        "calls_per_repeat": args.calls,
        "repeats": args.repeats,
        "ns_per_call": [round(x, 1) for x in per_call],
        "median_ns_per_call": round(statistics.median(per_call), 1),
        "logged": logged,
        "delivered": stats["logs"],
        "console": "redirected to /dev/null",
        "url_patched_to": url,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    say(json.dumps(result, indent=2))
    say(f"whole requests (middleware, log calls, synchronous POST every 200 logs): median "
        f"{statistics.median(per_call_wall):.0f} ns per log")
    say(f"sink /stats: {json.dumps(stats)}")
    if stats["logs"] != logged:
        say(f"WARNING: {logged} logged but {stats['logs']} delivered")
    say(f"wrote {args.out}")


if __name__ == "__main__":
    cli = parse_args(sys.argv[1:])  # before the redirection, so usage errors are seen
    # Keep the real standard error for our own messages; the client's console output goes to /dev/null.
    real_err = os.fdopen(os.dup(2), "w", buffering=1)

    def say(text):
        print(f"bench_python_client: {text}", file=real_err)

    sys.stdout.flush()
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        main(cli, say)
    except SystemExit as e:
        if e.code not in (None, 0):
            say(f"error: {e.code}")
            os._exit(1)
    except BaseException:
        say("error:\n" + traceback.format_exc())
        os._exit(1)
