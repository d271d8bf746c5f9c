"""The report: targets checked against the measurements, and the Markdown a reader sees."""


def _best(levels: dict, key: str) -> tuple[str, dict]:
    return max(levels.items(), key=lambda kv: kv[1][key] or 0)


def _model_targets(service: dict, beside: dict, model: str, raw_gain: float | None) -> list[dict]:
    """Batching on/off at 32 clients and n = 32 vs raw ORT batch 32, for one model."""
    on, off = service["batching_on"]["32"], service["batching_off"]["32"]
    batching = on["requests_per_s"] / off["requests_per_s"] if off["requests_per_s"] else None
    level, n32 = _best(service["n32"], "images_per_s")
    # `beside` was measured right before the n = 32 levels, not minutes earlier
    vs_raw = n32["images_per_s"] / beside["ort_batch32_without_encode_images_per_s"]
    vs_raw_enc = n32["images_per_s"] / beside["ort_batch32_with_encode_images_per_s"]
    return [
        {"name": f"`{model}`: batching on / off throughput, concurrency 32, n = 1", "target": ">= 3.0x",
         "measured": batching, "unit": "x", "met": batching is not None and batching >= 3.0,
         "note": None if raw_gain is None else f"raw ORT batch 32 / batch 1 per image: {raw_gain:.2f}x"},
        {"name": f"`{model}`: n = 32 service images/s (best: concurrency {level}) / raw ORT batch 32 without encoding",
         "target": ">= 0.7x", "measured": vs_raw, "unit": "x", "met": vs_raw >= 0.7,
         "note": f"against raw ORT with encoding: {vs_raw_enc:.2f}x"},
    ]


def targets(r: dict) -> list[dict]:
    service = r["service"]
    g = r["raw"]["generator"]
    found = _model_targets(service, r["raw_beside_n32"], r["model"]["ref"],
                           g["batch_32"]["ort_images_per_s"] / g["batch_1"]["ort_images_per_s"])
    if "heavy" in r:
        h = r["heavy"]
        found += _model_targets(h["service"], h["raw_beside_n32"], h["model"]["ref"], h["raw"]["batching_gain"])
    cache_p50 = service["cache_hits"]["p50_ms"]
    return found + [
        {"name": "cache hit p50 latency", "target": "<= 5 ms", "measured": cache_p50, "unit": "ms",
         "met": cache_p50 is not None and cache_p50 <= 5.0},
    ]


def _f(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_f(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _costs(level: dict) -> list:
    cpu = level["cpu_ms_per_request"]
    return [_f(cpu.get("api"), 2), _f(cpu.get("worker"), 2), _f(cpu.get("redis"), 2),
            _f(level["loadgen_cpu_ms_per_request"], 2), _f(level["redis_commands_per_request"], 1)]


def _ceiling(level: dict, cores: int) -> float:
    """Requests/s the machine could serve if CPU were the only limit: cores / CPU per request."""
    total = sum(v for v in level["cpu_ms_per_request"].values() if v == v) + level["loadgen_cpu_ms_per_request"]
    return cores * 1000 / total if total else float("nan")


def markdown(r: dict) -> str:
    m, raw, service, s = r["machine"], r["raw"], r["service"], r["settings"]
    out = [f"# GANForge benchmark — {m['date_utc']}\n"]
    out.append(
        f"Machine: **{m['cpu_model']}**, {m['logical_cores']} logical cores ({m['usable_cores']} usable), "
        f"{m['ram_gib']} GiB RAM, {m['os']}; load average at start {m['load_avg_at_start']}. "
        f"Python {m['python']}, onnxruntime {m['onnxruntime']}, torch {m['torch']}, numpy {m['numpy']}, "
        f"Pillow {m['pillow']}, Celery {m['celery']}, uvicorn {m['uvicorn']}.\n"
    )
    out.append(
        f"Model `{r['model']['ref']}` ({r['model']['architecture']}, config {r['model']['config']}). "
        f"Settings: max batch {s['max_batch_size']}, batch delay {s['max_batch_delay_ms']} ms, PNG level "
        f"{s['png_compress_level']}, ORT threads {s['ort_threads'] or 'one per core'} ({', '.join(raw['providers'])}), "
        f"worker threads {s['worker_concurrency']}. Whole run: {r['total_s']:.0f} s "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in r['phases_s'].items())}).\n"
    )

    out.append("## Targets\n")
    out.append(_table(["target", "wanted", "measured", "met"], [
        [t["name"] + (f" ({t['note']})" if t.get("note") else ""), t["target"],
         f"{_f(t['measured'], 2)} {t['unit']}", "yes" if t["met"] else "**no**"] for t in r["targets"]
    ]))

    out.append("## 1. Raw generator: PyTorch eager vs ONNX Runtime (no service)\n")
    out.append(f"{raw['weights']}. PyTorch {raw['torch_threads']} threads, `torch.inference_mode`, eval mode. "
               f"Median of {r['method']['raw_rounds']} interleaved rounds of {r['method']['raw_round_s']} s per case.\n")
    rows = []
    for batch in ("1", "32"):
        g = raw["generator"][f"batch_{batch}"]
        rows.append([batch, g["torch_images_per_s"], g["ort_images_per_s"], f"{g['ort_over_torch']:.2f}x",
                     _f(g["torch_ms_per_call"], 2), _f(g["ort_ms_per_call"], 2)])
    out.append(_table(["batch", "PyTorch images/s", "ORT images/s", "ORT / PyTorch", "PyTorch ms/call", "ORT ms/call"], rows))
    p = raw["png"]
    b1, b32 = raw["generator"]["batch_1"]["ort_images_per_s"], raw["generator"]["batch_32"]["ort_images_per_s"]
    out.append(f"\nRaw ORT per-image gain from batching (batch 32 / batch 1): **{b32 / b1:.2f}x** — the most that "
               "batching can buy this model's generator on this CPU.\n")
    out.append("\nPNG encoding of one generated image (Pillow, batch of 32 generated images, per image):\n\n")
    out.append(_table(["zlib level", "ms / image", "bytes / image", "encode / generator time per image (ORT, batch 32)"], [
        [f"{p['configured_level']} (configured)", _f(p["configured_ms_per_image"], 3), _f(p["configured_bytes_per_image"], 0),
         f"{p['encode_over_generator_configured']:.2f}x"],
        ["6 (Pillow default)", _f(p["level6_ms_per_image"], 3), _f(p["level6_bytes_per_image"], 0),
         f"{p['encode_over_generator_level6']:.2f}x"],
    ]))
    out.append(f"\nLevel 6 costs {p['level6_over_configured_time']:.1f}x the time of level {p['configured_level']}. "
               f"Raw ORT batch 32: {_f(raw['ort_batch32_without_encode_images_per_s'], 0)} images/s without encoding, "
               f"{_f(raw['ort_batch32_with_encode_images_per_s'], 0)} images/s with uint8 conversion and PNG level "
               f"{p['configured_level']} encoding. At the end of the run (drift check): "
               f"{_f(r['raw_end']['ort_batch32_without_encode_images_per_s'], 0)} and "
               f"{_f(r['raw_end']['ort_batch32_with_encode_images_per_s'], 0)} images/s.\n")

    out.append("\n## 2. Service `/generate`, n = 1, unseeded, `Prefer: wait=30`\n")
    out.append(f"Closed loop of HTTP/1.1 keep-alive clients in a separate process; {r['method']['warmup_s']} s warm-up "
               f"excluded, then {r['method']['duration_s']} s measured per level. Latency is end to end at the client. "
               "Batching on: GANFORGE_MAX_BATCH_SIZE=" f"{s['max_batch_size']}; off: 1. Same worker threads in both.\n\n")
    on, off = service["batching_on"], service["batching_off"]
    rows = []
    for c in on:
        a, b = on[c], off[c]
        ratio = a["requests_per_s"] / b["requests_per_s"] if b["requests_per_s"] else None
        rows.append([c, a["requests_per_s"], _f(a["p50_ms"]), _f(a["p95_ms"]), _f(a["batch_images_mean"], 1),
                     b["requests_per_s"], _f(b["p50_ms"]), _f(b["p95_ms"]), f"{_f(ratio, 2)}x",
                     f"{a['requests_ok']} / {b['requests_ok']}"])
    out.append(_table(["clients", "on req/s", "on p50 ms", "on p95 ms", "on mean batch", "off req/s", "off p50 ms",
                       "off p95 ms", "on / off", "requests counted on / off"], rows))
    out.append("\nWhere the time goes, per request (CPU ms of each process; Redis commands):\n\n")
    rows = []
    for name, levels in (("on", on), ("off", off)):
        for c in levels:
            lv = levels[c]
            rows.append([f"{name}, {c} clients", *_costs(lv), _f(_ceiling(lv, m["usable_cores"]), 0),
                         _f(lv["queue_wait_ms_mean"], 1),
                         _f(lv["worker_inference_ms_mean"], 2), _f(lv["worker_encode_ms_mean"], 2)])
    out.append(_table(["stack, clients", "API CPU ms", "worker CPU ms", "Redis CPU ms", "load gen CPU ms",
                       "Redis cmds", "CPU-bound ceiling req/s", "queued ms (created→started)", "worker inference ms", "worker encode ms"], rows))
    top = on["32"]["redis_top_commands"]
    out.append(f"\nTop Redis commands per request (batching on, 32 clients): "
               f"{', '.join(f'{k} {v}' for k, v in top.items())}.\n")

    if "batching_on_wide" in service:
        wide = service["batching_on_wide"]
        threads = service["batching_on_wide_worker_threads"]
        out.append(f"\nDiagnostic: batching on with {threads} worker threads instead of {s['worker_concurrency']} "
                   "(a stack of its own, same run):\n\n")
        rows = []
        for c, lv in wide.items():
            ratio = lv["requests_per_s"] / off[c]["requests_per_s"] if off[c]["requests_per_s"] else None
            rows.append([c, lv["requests_per_s"], _f(lv["p50_ms"]), _f(lv["p95_ms"]), _f(lv["batch_images_mean"], 1),
                         f"{_f(ratio, 2)}x", lv["requests_ok"], *_costs(lv)[:3]])
        out.append(_table(["clients", "req/s", "p50 ms", "p95 ms", "mean batch", "vs batching off", "requests",
                           "API CPU ms", "worker CPU ms", "Redis CPU ms"], rows))

    beside = r["raw_beside_n32"]
    out.append("\n## 3. n = 32 per request vs raw ONNX Runtime at batch 32\n")
    out.append(f"Raw ORT batch 32 measured in the bench process just before these levels, with the stack up and idle: "
               f"{_f(beside['ort_batch32_without_encode_images_per_s'], 0)} images/s without encoding, "
               f"{_f(beside['ort_batch32_with_encode_images_per_s'], 0)} with uint8 conversion + PNG encoding. "
               "The service figure includes encoding, Redis writes of every image and the HTTP answer.\n\n")
    rows = []
    for c, lv in service["n32"].items():
        rows.append([c, lv["images_per_s"], _f(lv["p50_ms"]), _f(lv["p95_ms"]), lv["requests_ok"],
                     f"{lv['images_per_s'] / beside['ort_batch32_without_encode_images_per_s']:.2f}x",
                     f"{lv['images_per_s'] / beside['ort_batch32_with_encode_images_per_s']:.2f}x",
                     _f(lv["worker_inference_ms_mean"], 1), _f(lv["worker_encode_ms_mean"], 1),
                     _f(lv["cpu_ms_per_request"]["api"], 1)])
    out.append(_table(["clients", "images/s", "p50 ms", "p95 ms", "requests", "vs raw ORT", "vs raw ORT + encode",
                       "worker inference ms", "worker encode ms", "API CPU ms"], rows))

    out.append("\n## 4. Cache hits (one seeded request repeated, 1 client)\n")
    ch = service["cache_hits"]
    out.append(_table(["p50 ms", "p95 ms", "p99 ms", "requests", "served from cache", "API CPU ms / req", "Redis cmds / req"], [
        [_f(ch["p50_ms"], 2), _f(ch["p95_ms"], 2), _f(ch["p99_ms"], 2), ch["requests_ok"], ch["cached"],
         _f(ch["cpu_ms_per_request"]["api"], 2), _f(ch["redis_commands_per_request"], 1)],
    ]))

    pc = r["pieces"]
    out.append("\nPer-request pieces, timed in the bench process: Redis round trip (PING) "
               f"{_f(pc['redis_round_trip_ms'], 3)} ms, Celery publish (`send_task`, once per job) "
               f"{_f(pc['celery_publish_ms'], 3)} ms, model resolve from the registry on disk "
               f"{_f(pc['model_resolve_ms'], 3)} ms, parsing a job record {_f(pc['job_record_parse_ms'], 3)} ms.\n")

    tr = r["training"]
    out.append("\n## 5. DCGAN trainer (`train_dcgan`, mnist-5k)\n")
    out.append(f"Config {tr['config']}, torch {tr['torch_threads']} threads; first {tr['warmup_steps_excluded']} steps "
               f"excluded.\n\n")
    out.append(_table(["steps/s", "ms/step", "images/s", "steps timed", "wall s incl. setup + BN recalibration"], [
        [_f(tr["steps_per_s"], 2), _f(tr["ms_per_step"], 1), _f(tr["images_per_s"], 0), tr["steps_timed"],
         _f(tr["wall_s_including_setup"], 1)],
    ]))

    if "upscale_memory" in r:
        up = r["upscale_memory"]
        out.append(f"\n## 6. Upscale: {up['input']} at x4 with `{up['model']}`, tiled\n")
        out.append(f"Each case in a fresh process; the output array alone is {up['output_array_mib']} MiB.\n\n")
        out.append(_table(["tile", "tiles", "wall s", "inference s", "encode s", "peak RSS MiB", "RSS before MiB",
                           "output PNG MiB"], [
            [c["tile"], c["tiles"], c["wall_s"], c["inference_s"], c["encode_s"], c["peak_rss_mib"],
             c["rss_before_mib"], c["output_png_mib"]] for c in up["cases"]
        ]))

    if "heavy" in r:
        out.append(_heavy_markdown(r["heavy"], m["usable_cores"]))
    return "\n".join(out)


def _heavy_markdown(h: dict, cores: int) -> str:
    hm, hr, hs = h["model"], h["raw"], h["service"]
    out = [f"\n## 7. A heavier generator: `{hm['ref']}` (model time dominates)\n\n"]
    out.append(f"{hm['architecture']}, config {hm['config']}, {hm['parameters']:,} parameters; {hm['weights']}; "
               f"registered in each stack's own registry before its worker started, served by the same stacks "
               f"as §2–3 (same worker threads, same batching settings).\n\n")
    out.append(_table(["raw ORT", "images/s", "ms / call", "per-image gain over batch 1"], [
        ["batch 1", hr["ort_batch1_images_per_s"], _f(hr["ort_batch1_ms_per_call"], 2), "1.00x"],
        ["batch 32", hr["ort_batch32_images_per_s"], _f(hr["ort_batch32_ms_per_call"], 2), f"{hr['batching_gain']:.2f}x"],
        ["batch 32 + uint8 + PNG", hr["ort_batch32_with_encode_images_per_s"], "–", "–"],
    ]))
    out.append(f"\nPNG level-1 encoding of one 64×64 RGB image: {_f(hr['png_ms_per_image'], 3)} ms, "
               f"{_f(hr['png_bytes_per_image'], 0)} bytes.\n\n")
    on, off = hs["batching_on"], hs["batching_off"]
    rows = []
    for c in on:
        a, b = on[c], off[c]
        ratio = a["requests_per_s"] / b["requests_per_s"] if b["requests_per_s"] else None
        rows.append([c, a["requests_per_s"], _f(a["p50_ms"]), _f(a["p95_ms"]), _f(a["batch_images_mean"], 1),
                     b["requests_per_s"], _f(b["p50_ms"]), _f(b["p95_ms"]), f"{_f(ratio, 2)}x",
                     f"{a['requests_ok']} / {b['requests_ok']}"])
    out.append("n = 1, unseeded, batching on vs off:\n\n")
    out.append(_table(["clients", "on req/s", "on p50 ms", "on p95 ms", "on mean batch", "off req/s", "off p50 ms",
                       "off p95 ms", "on / off", "requests counted on / off"], rows))
    rows = []
    for name, levels in (("on", on), ("off", off)):
        for c, lv in levels.items():
            rows.append([f"{name}, {c} clients", *_costs(lv), _f(_ceiling(lv, cores), 0),
                         _f(lv["worker_inference_ms_mean"], 2), _f(lv["worker_encode_ms_mean"], 2)])
    out.append("\n")
    out.append(_table(["stack, clients", "API CPU ms", "worker CPU ms", "Redis CPU ms", "load gen CPU ms", "Redis cmds",
                       "CPU-bound ceiling req/s", "worker inference ms", "worker encode ms"], rows))
    beside = h["raw_beside_n32"]
    out.append(f"\nn = 32 per request (batching on) vs raw ORT batch 32 measured just before, stack idle: "
               f"{_f(beside['ort_batch32_without_encode_images_per_s'], 0)} images/s without encoding, "
               f"{_f(beside['ort_batch32_with_encode_images_per_s'], 0)} with.\n\n")
    rows = []
    for c, lv in hs["n32"].items():
        rows.append([c, lv["images_per_s"], _f(lv["p50_ms"]), _f(lv["p95_ms"]), lv["requests_ok"],
                     f"{lv['images_per_s'] / beside['ort_batch32_without_encode_images_per_s']:.2f}x",
                     f"{lv['images_per_s'] / beside['ort_batch32_with_encode_images_per_s']:.2f}x",
                     _f(lv["worker_inference_ms_mean"], 1), _f(lv["worker_encode_ms_mean"], 1),
                     _f(lv["cpu_ms_per_request"]["worker"], 1), _f(lv["cpu_ms_per_request"]["api"], 1)])
    out.append(_table(["clients", "images/s", "p50 ms", "p95 ms", "requests", "vs raw ORT", "vs raw ORT + encode",
                       "worker inference ms", "worker encode ms", "worker CPU ms", "API CPU ms"], rows))
    return "".join(out)


def main() -> None:
    """`python -m bench.report [report.json]`: render report.md again from a saved report.json."""
    import json
    import sys
    from pathlib import Path

    source = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "results" / "report.json"
    source.with_name("report.md").write_text(markdown(json.loads(source.read_text())))


if __name__ == "__main__":
    main()
