"""How fast does the viewer (``explainendo view``) open a case of a 10,000-case results folder?

A tiny gastric model (ResNet-18 heads at 32 px, one epoch, logistic regression, an OOD detector; the whole frame is
the lesion) diagnoses ``--real`` generated 256 px frames with ``explainendo diagnose``; its rows (``results.csv``, and
``results.jsonl`` with every lesion's features) are then replicated to ``--cases`` rows, a results folder of the
size the goal names. The viewer serves it with uvicorn in this process; timed:

* opening the folder (``create_app``: ``results.csv`` read, the ``results.jsonl`` line index built);
* server response times over HTTP (keep-alive client): the case page, its frame, the case table (first page, a
  page deep into a sorted view, a filtered view), the explanation (first computation, then cached);
* in Chromium (Playwright, the system's ``chromium``; skipped when there is none): a case page from navigation to
  its ``load`` event (HTML, CSS, JS and the frame loaded, the box drawn), and until its group contributions and
  Grad-CAM toggles are shown (an explanation computed on demand); the table page likewise.

    python benchmarks/viewer.py             # 10,000 cases (the issue's goal: the case page under 1 s)
    python benchmarks/viewer.py --quick     # smoke run: 1,000 cases, fewer pages
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def tiny_run(folder: Path, real: int, seed: int = 0):
    """A real diagnose run of ``real`` frames: (model, model folder, results folder)."""
    from explainendo import Diagnoser, InSample
    from explainendo.commands import diagnose_images
    from explainendo.explain import OODDetector
    from explainendo.localize import WholeFrame
    from explainendo.synth import generate
    from explainendo.systems.gastric import gastric_heads, gastric_predictor
    from explainendo.training import Training

    train = generate("gastric", 40, seed=seed, size=64).write(folder / "train")
    heads = gastric_heads(seed, image_size=32, pretrained=False, backbone="resnet18",
                          training=Training(epochs=1, batch_size=32, num_threads=1, device="cpu"))
    predictor = gastric_predictor(heads=heads, fitter="logistic_regression", stacking=InSample(),
                                  group_selection=None, seed=seed)
    model = Diagnoser(localizer=WholeFrame(remove_border=False), predictor=predictor, ood=OODDetector()).fit(train)
    model_dir = model.save(folder / "model")
    generate("gastric", real, seed=seed + 1, size=256).write(folder / "images")
    diagnose_images(model_dir, folder / "images", folder / "real", cards=False, progress=False)
    return model, model_dir, folder / "real"


def replicate(real: Path, out: Path, cases: int) -> Path:
    """``out``: the rows of ``real`` repeated up to ``cases`` rows (each record's ``frame_index`` renumbered)."""
    out.mkdir(parents=True)
    header, *rows = (real / "results.csv").read_text().splitlines(keepends=True)
    records = (real / "results.jsonl").read_text().splitlines()
    with open(out / "results.csv", "w") as csv_file, open(out / "results.jsonl", "w") as jsonl_file:
        csv_file.write(header)
        for i in range(cases):
            csv_file.write(rows[i % len(rows)])
            record = json.loads(records[i % len(records)])
            record["frame_index"] = i
            jsonl_file.write(json.dumps(record) + "\n")
    shutil.copy(real / "ledger.json", out / "ledger.json")
    return out


def ms(values) -> str:
    values = sorted(1000 * v for v in values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return f"median {statistics.median(values):.1f} ms, p95 {p95:.1f} ms, max {values[-1]:.1f} ms (n={len(values)})"


def timed_get(client, url: str) -> float:
    start = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:200]}")
    return elapsed


def chromium() -> str | None:
    for candidate in (os.environ.get("EXPLAINENDO_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and os.path.isfile(candidate):
            return candidate
    return None


def browser_times(url: str, cases: list[int], explain: list[int], binary: str, pages) -> dict[str, list[float]]:
    """Seconds from navigation start to the load event (case and table pages), and to the explanation shown."""
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {"case_load": [], "table_load": [], "case_explained": []}
    load_ms = "performance.getEntriesByType('navigation')[0].loadEventEnd"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{url}/")  # a first page: the browser's own start-up is not the viewer's
            for case in cases:
                page.goto(f"{url}/case/{case}?sort=probability&order=desc", wait_until="load")
                out["case_load"].append(page.evaluate(load_ms) / 1000)
            for number in pages:
                page.goto(f"{url}/?sort=probability&order=desc&page={number}", wait_until="load")
                out["table_load"].append(page.evaluate(load_ms) / 1000)
            for case in explain:
                start = time.perf_counter()
                page.goto(f"{url}/case/{case}", wait_until="commit")
                page.wait_for_selector("#case[data-explained='1']", timeout=120_000)
                out["case_explained"].append(time.perf_counter() - start)
        finally:
            browser.close()
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--real", type=int, default=40, help="frames diagnosed for real (the rows replicated)")
    parser.add_argument("--pages", type=int, default=40, help="case pages timed")
    parser.add_argument("--explain", type=int, default=5, help="explanations timed (computed, then cached)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: --cases 1000 --real 12 --pages 8 --explain 2")
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.real, args.pages, args.explain = 1000, 12, 8, 2
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("EXPLAINENDO_PROGRESS", "0")

    import httpx

    from explainendo.bench import run_header
    from explainendo.viewer import ResultsFolder
    from explainendo.viewer.app import background_server, create_app

    print(run_header())
    print("load average at the start (1, 5, 15 min): " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="viewer_bench_") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        model, _, real = tiny_run(tmp, args.real, args.seed)
        print(f"tiny model trained and {args.real} frames diagnosed in {time.perf_counter() - start:.0f} s")
        folder = replicate(real, tmp / "results", args.cases)
        size = (folder / "results.jsonl").stat().st_size / 2**20
        print(f"results folder: {args.cases:,} cases ({size:.0f} MB of records, "
              f"{(folder / 'results.csv').stat().st_size / 2**20:.1f} MB results.csv), 256 px frames")

        start = time.perf_counter()
        app = create_app(folder, model=model, warm_up=False)
        print(f"create_app (first call: FastAPI imported, the folder read): "
              f"{1000 * (time.perf_counter() - start):.0f} ms")
        start = time.perf_counter()
        ResultsFolder(folder)
        print(f"open the folder (results.csv read and indexed, results.jsonl's line offsets): "
              f"{1000 * (time.perf_counter() - start):.0f} ms")
        start = time.perf_counter()
        app.state.explainer.warm_up()
        print(f"warm-up (the SHAP explainer built; `explainendo view` does it in a thread at start): "
              f"{1000 * (time.perf_counter() - start):.0f} ms")
        middle = max(1, args.cases // 50 // 2)
        cases = rng.sample(range(args.cases), args.pages)
        explain = rng.sample([c for c in range(args.cases) if c not in cases], args.explain)
        with background_server(app) as url, httpx.Client(base_url=url, timeout=120) as client:
            timed_get(client, "/")  # the first request pays for the templates' compilation
            rows = {
                "case page (HTML), random cases": [timed_get(client, f"/case/{c}?sort=probability&order=desc")
                                                   for c in cases],
                "case frame (PNG)": [timed_get(client, f"/case/{c}/frame") for c in cases],
                "case table, first page": [timed_get(client, "/") for _ in range(10)],
                f"case table, page {middle} sorted by probability desc": [
                    timed_get(client, f"/?sort=probability&order=desc&page={middle}") for _ in range(10)],
                "case table, filtered (label + p >= 0.5 + name), sorted by OOD score": [
                    timed_get(client, f"/?sort=ood_score&order=desc&p_min=0.5&q=0000&label={label}")
                    for label in ("neoplastic", "non_neoplastic") * 5],
                "explanation, computed (SHAP + Grad-CAM)": [timed_get(client, f"/api/cases/{c}/explanation")
                                                            for c in explain],
                "explanation, cached": [timed_get(client, f"/api/cases/{c}/explanation") for c in explain],
            }
            print("\nserver response (HTTP, keep-alive, this process's uvicorn):")
            for name, values in rows.items():
                print(f"  {name}: {ms(values)}")
            binary = chromium()
            if binary is None:
                print("\nin the browser: skipped (no chromium)")
            else:
                more = rng.sample([c for c in range(args.cases) if c not in cases + explain], args.explain)
                times = browser_times(url, cases, more, binary, (1, middle, 2 * middle))
                print(f"\nin Chromium ({binary}, headless, Playwright), navigation start to:")
                print(f"  case page load event (HTML + CSS + JS + frame, box drawn): {ms(times['case_load'])}")
                print(f"  case page with its explanation shown (computed on demand): {ms(times['case_explained'])}")
                print(f"  table page load event (50 rows, sorted): {ms(times['table_load'])}")
                worst = max(times["case_load"])
                print("load average at the end (1, 5, 15 min): " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
                print(f"\ngoal, the case page opens in under 1 s: {'met' if worst < 1 else 'NOT met'} "
                      f"(slowest of {len(times['case_load'])}: {1000 * worst:.0f} ms)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
