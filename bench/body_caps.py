"""`python -m bench.body_caps`: what oversized bodies and images cost the API process in memory.

Against one local stack (its own Redis and the API; no worker: nothing here should become a job),
each case is sent while a thread samples the API process's RSS every 10 ms (psutil); reported per
case: the answers, the RSS before and the peak during the case, and how many body bytes the
client had sent when the answer came (a cap that answers before the body is read whole stops the
upload early). Cases:

- a 300 MB JSON body on /generate, with its Content-Length declared, and again chunked (no length);
- a 300 MB multipart body (one `image` part) on /upscale, declared and chunked;
- eight concurrent 4096x4096 RGBA PNGs (~70 KB each, flat colour) on /upscale: at the input pixel
  limit, so they are decoded (under the API's decode budget) and then refused because x4 would be
  over the output limit;
- eight concurrent 4097x4096 RGBA PNGs: over the input pixel limit, refused from the header alone.

Bodies are streamed from a raw socket, so the client holds no 300 MB buffer and can stop sending
once the server has answered. Writes bench/results/body_caps.json. A benchmark, not a test.
"""

import argparse
import io
import json
import select
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import psutil

RESULTS = Path(__file__).resolve().parent / "results"
CHUNK = 1 << 20
BOUNDARY = "benchbodycapsboundary"


class PeakSampler:
    """The highest RSS of one process, sampled every `period_s` in a thread."""

    def __init__(self, pid: int, period_s: float = 0.01):
        self.process, self.period_s = psutil.Process(pid), period_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.period_s)

    def __enter__(self) -> "PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()


def send(url: str, path: str, headers: dict[str, str], parts, declared_length: int | None, timeout_s: float = 120) -> dict:
    """POST the body made by `parts` (an iterator of byte chunks) over a raw socket; stop sending as
    soon as the server answers. Answers the status, the bytes sent, and the seconds taken."""
    where = urlsplit(url)
    started = time.perf_counter()
    sock = socket.create_connection((where.hostname, where.port), timeout=timeout_s)
    head = [f"POST {path} HTTP/1.1", f"Host: {where.netloc}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append(f"Content-Length: {declared_length}" if declared_length is not None else "Transfer-Encoding: chunked")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    sent, answer, error = 0, b"", None
    try:
        for chunk in parts:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered (or closed): no need to send the rest
            payload = chunk if declared_length is not None else b"%x\r\n%s\r\n" % (len(chunk), chunk)
            sock.sendall(payload)
            sent += len(chunk)
        else:
            if declared_length is None:
                sock.sendall(b"0\r\n\r\n")
    except OSError as failure:  # the server closed the connection while we were still sending
        error = type(failure).__name__
    try:
        while b"\r\n\r\n" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    except OSError as failure:
        error = error or type(failure).__name__
    finally:
        sock.close()
    status_line = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    status = int(status_line.split()[1]) if status_line.startswith("HTTP/") else None
    return {"status": status, "body_mib_sent": round(sent / 2**20, 1), "seconds": round(time.perf_counter() - started, 2),
            **({"client_error": error} if error else {})}


def json_body(total: int):
    head = b'{"model": "mnist-cdcgan", "n": 1, "pad": "'
    yield head
    left = total - len(head) - 2
    while left > 0:
        size = min(CHUNK, left)
        yield b"x" * size
        left -= size
    yield b'"}'


def multipart_body(total: int):
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nsr-x4\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"big.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    yield head
    left = total - len(head) - len(tail)
    while left > 0:
        size = min(CHUNK, left)
        yield b"\x89" * size
        left -= size
    yield tail


def flat_png(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGBA", (width, height), (40, 90, 160, 255)).save(out, format="PNG", optimize=True)
    return out.getvalue()


def multipart_image(data: bytes) -> tuple[bytes, int]:
    body = b"".join(multipart_body_parts(data))
    return body, len(body)


def multipart_body_parts(data: bytes):
    yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nsr-x4\r\n"
           f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n"
           "Content-Type: image/png\r\n\r\n").encode()
    yield data
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def case(name: str, api_pid: int, run) -> dict:
    time.sleep(1.0)  # let the previous case's memory settle
    before = psutil.Process(api_pid).memory_info().rss
    with PeakSampler(api_pid) as sampler:
        answers = run()
    result = {"case": name, "answers": answers, "api_rss_before_mib": round(before / 2**20, 1),
              "api_rss_peak_mib": round(sampler.peak / 2**20, 1),
              "api_rss_rise_mib": round((sampler.peak - before) / 2**20, 1)}
    print(json.dumps(result), flush=True)
    return result


def measure(body_mb: int) -> dict:
    from bench import machine
    from service.local.stack import LocalStack

    stack = LocalStack(Path(tempfile.mkdtemp(prefix="body-caps-", dir=RESULTS)),
                       {"GANFORGE_LOG_LEVEL": "WARNING"})
    stack.start_redis()
    try:
        stack.start_api()
        api_pid = stack.children["api"].pid
        auth = stack.auth_headers
        url, total = stack.api_url, body_mb * 1000 * 1000
        json_headers = {**auth, "Content-Type": "application/json"}
        form_headers = {**auth, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        cases = [
            case(f"{body_mb} MB JSON on /generate, Content-Length declared", api_pid,
                 lambda: [send(url, "/generate", json_headers, json_body(total), total)]),
            case(f"{body_mb} MB JSON on /generate, chunked", api_pid,
                 lambda: [send(url, "/generate", json_headers, json_body(total), None)]),
            case(f"{body_mb} MB multipart on /upscale, Content-Length declared", api_pid,
                 lambda: [send(url, "/upscale", form_headers, multipart_body(total), total)]),
            case(f"{body_mb} MB multipart on /upscale, chunked", api_pid,
                 lambda: [send(url, "/upscale", form_headers, multipart_body(total), None)]),
        ]
        for width, height in ((4096, 4096), (4097, 4096)):
            png = flat_png(width, height)
            body, length = multipart_image(png)

            def eight(body=body, length=length):
                with ThreadPoolExecutor(8) as pool:
                    return list(pool.map(lambda _: send(url, "/upscale", form_headers, iter([body]), length), range(8)))

            cases.append(case(f"8 concurrent {width}x{height} RGBA PNGs ({len(png) / 1024:.0f} KB each) on /upscale",
                              api_pid, eight))
        return {"machine": machine.describe(), "body_bytes": total, "sampling_ms": 10, "cases": cases}
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.body_caps", description=__doc__.split("\n")[0])
    parser.add_argument("--body-mb", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = measure(args.body_mb)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "body_caps.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out / 'body_caps.json'}")


if __name__ == "__main__":
    main()
