"""The EUS system against its goals (issue 22) on EUS phantoms with label noise, split by patient, in one run:

1. ``classify``: mucinous vs serous from pixels on held-out patients: the sole CNN on the whole frame (the paper's
   input), the sole CNN on the localized cyst, and the hybrid (cyst attribute heads + ultrasound texture features
   -> interpretable fitter) against the Bayes rate; accuracy, AUC with DeLong 95% CIs, McNemar and DeLong between
   the models on the same frames; training time;
2. ``freeze``: partial fine-tuning of the whole-frame CNN, the first k backbone stages frozen, for each k of
   ``--freeze`` (accuracy, AUC, training time);
3. ``robustness``: the paper's test: accuracy and AUC when the test frames are rescaled 0.5x-1.5x, cropped to a
   smaller sector or the cyst is shifted by up to 20% of the frame (``evaluate_robustness``), and where each
   model breaks (a drop over 2 points);
4. ``gradcam``: the CNN's Grad-CAM heat inside the true cyst box against the box's share of the frame;
5. ``shap``: on the hybrid's correct test cases, how often each drawn finding (calcification, central scar,
   microcystic pattern) is among the three groups with the largest |SHAP|, overall and on the look-alikes.
6. ``jitter`` (with ``classify``, run last): the hybrid's fitter refit on its own training rows (the heads kept)
   without box jitter and with the settings of ``--jitter`` (``scale:shift:copies``), the accuracy of each on the
   same test frames: what training on jittered boxes does (an ablation; the default was not chosen from it).

    nice python benchmarks/eus.py --quick                       # a few minutes: small phantoms, few epochs
    nice python benchmarks/eus.py --n 800 --out bench/eus       # the measured run (docs/benchmarks.md)
    nice python benchmarks/eus.py --n 800 --p-oligocystic 0.3 --p-thin-wall 0.3   # findings with their own evidence

``--p-oligocystic`` / ``--p-thin-wall`` (generator options, default 0: the phantoms above) draw oligocystic serous
cysts that look unilocular and thin-walled mucinous ones, so locularity and wall no longer decide the label alone
and calcification and scar carry evidence of their own (docs/eus.md); the look-alikes are those two kinds.

Absolute times are for the machine printed at the top; every figure of one run comes from the same split.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: the drawn findings the hybrid's SHAP should name, and the group that names each
FINDING_GROUPS = {"calcification": ("attr.calcification", "yes"), "central_scar": ("attr.central_scar", "yes"),
                  "locularity": ("attr.locularity", "microcystic")}


#: the four kinds of cyst the look-alike options draw
KINDS = ("thick-walled mucinous", "thin-walled mucinous", "microcystic serous", "oligocystic serous")


def drawn_kinds(table):
    """Per row of a phantom table: the drawn type (``attr.cyst_type``, not the noisy label) and the kind of cyst."""
    import pandas as pd

    mucinous = table["attr.cyst_type"].astype(str).eq("mucinous")
    thin = table["attr.wall"].astype(str).eq("thin")
    unilocular = table["attr.locularity"].astype(str).eq("unilocular")
    kind = np.where(mucinous, np.where(thin, KINDS[1], KINDS[0]), np.where(unilocular, KINDS[3], KINDS[2]))
    return pd.DataFrame({"drawn": table["attr.cyst_type"].astype(str).to_numpy(), "kind": kind}, index=table.index)


def models(a, freeze: int):
    """The contenders of ``classify``, unfitted."""
    from explainendo import EUSCystClassifier
    from explainendo.fit import FitterSelector
    from explainendo.localize import UNetTraining
    from explainendo.predict import HeldOut
    from explainendo.systems import eus_cnn, eus_heads, eus_localizer, eus_predictor
    from explainendo.training import Training

    threads = {} if a.threads is None else {"num_threads": a.threads}  # (default: each Training's own)
    training = Training(epochs=a.epochs, batch_size=32, patience=4, **threads)
    localizer = eus_localizer(a.seed, image_size=a.loc_size,
                              training=UNetTraining(epochs=a.loc_epochs, batch_size=16, **threads))
    heads = eus_heads(a.seed, image_size=a.heads_size, training=training)
    hybrid = eus_predictor(heads=heads, fitter=FitterSelector(cv=3, seed=a.seed), stacking=HeldOut(0.5), seed=a.seed)
    return {
        "CNN, whole frame": EUSCystClassifier(approach="cnn", input="frame", seed=a.seed,
                                              predictor=eus_cnn(freeze, seed=a.seed, image_size=a.cnn_size,
                                                                training=training)),
        "CNN, cyst": EUSCystClassifier(approach="cnn", input="cyst", seed=a.seed, localizer=localizer,
                                       predictor=eus_cnn(freeze, enlarge=1.5, seed=a.seed, image_size=a.heads_size,
                                                         training=training)),
        "hybrid, cyst": EUSCystClassifier(approach="hybrid", input="cyst", seed=a.seed, localizer=localizer,
                                          predictor=hybrid),
    }


def positive_scores(results, positive="mucinous"):
    """Called label and P(positive) per result (no lesion / unreadable: the negative call, score 0)."""
    called, score = [], []
    for r in results:
        if r.ok and r.lesion is not None:
            called.append(r.label)
            score.append(r.lesion.probabilities.get(positive, 0.0))
        else:
            called.append("none")
            score.append(0.0)
    return np.array(called, dtype=object), np.array(score, float)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=800, help="phantom frames (one per patient)")
    ap.add_argument("--size", type=int, default=256, help="phantom side in pixels")
    ap.add_argument("--label-noise", type=float, default=0.1, help="share of labels flipped (Bayes rate 1 - it)")
    ap.add_argument("--p-oligocystic", type=float, default=0.0,
                    help="share of serous cysts drawn oligocystic (unilocular-looking, thin wall; default 0)")
    ap.add_argument("--p-thin-wall", type=float, default=0.0, help="share of mucinous cysts drawn thin-walled (default 0)")
    ap.add_argument("--p-calcification", type=float, default=0.3, help="generator's p_calcification")
    ap.add_argument("--p-scar", type=float, default=0.4, help="generator's p_scar (serous)")
    ap.add_argument("--test", type=float, default=0.3, help="share of patients held out")
    ap.add_argument("--loc-size", type=int, default=128)
    ap.add_argument("--loc-epochs", type=int, default=8)
    ap.add_argument("--heads-size", type=int, default=128)
    ap.add_argument("--cnn-size", type=int, default=160)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--freeze", default="0,2,4,6", help="frozen stages to compare (the first is the default)")
    ap.add_argument("--default-freeze", type=int, default=2, help="frozen stages of the classify contenders")
    ap.add_argument("--parts", default="classify,freeze,robustness,gradcam,shap")
    ap.add_argument("--jitter", default="0.08:0.04:2,0.08:0.04:4,0.12:0.06:2",
                    help="box-jitter settings the 'jitter' part refits the hybrid's fitter with (scale:shift:copies)")
    ap.add_argument("--models", default="", help="';'-separated contenders of classify to train (default: all three), "
                                                 "e.g. 'CNN, whole frame;hybrid, cyst'")
    ap.add_argument("--quick", action="store_true", help="small phantoms and few epochs (a smoke run)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads of every training (default: Training's 2, the localizer's torch default)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "eus"))
    a = ap.parse_args(argv)
    if a.quick:
        a.n, a.size, a.loc_size, a.loc_epochs, a.heads_size, a.cnn_size, a.epochs = 120, 128, 64, 3, 64, 64, 2
        a.freeze = "0,2"

    from explainendo.bench import run_header
    from explainendo.evaluate import compare_models, evaluate_robustness
    from explainendo.io.splits import train_val_test_split
    from explainendo.synth import generate

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    print(run_header(), flush=True)
    phantoms = generate("eus", a.n, seed=a.seed, size=a.size, label_noise=a.label_noise,
                        p_oligocystic=a.p_oligocystic, p_thin_wall=a.p_thin_wall, p_calcification=a.p_calcification,
                        p_scar=a.p_scar)
    work = Path(tempfile.mkdtemp(prefix="explainendo-eus-"))
    manifest = phantoms.write(work / "phantoms")
    split = train_val_test_split(manifest, val=0.0, test=a.test, by="patient", seed=a.seed)
    train, test = split["train"], split["test"]
    truth = test.df.groupby("image", sort=False)["label"].first()
    images = [str(test.path(i)) for i in truth.index]
    y = truth.to_numpy(dtype=object)
    cysts = [test.boxes_for(i)[0] for i in truth.index]
    if a.p_oligocystic or a.p_thin_wall:
        t = phantoms.table
        print(f"look-alikes: {int(((t['attr.cyst_type'] == 'serous') & (t['attr.locularity'] == 'unilocular')).sum())} "
              f"oligocystic serous, {int(((t['attr.cyst_type'] == 'mucinous') & (t['attr.wall'] == 'thin')).sum())} "
              f"thin-walled mucinous", flush=True)
    print(f"{a.n} EUS phantoms at {a.size} px, label noise {a.label_noise} (Bayes rate {phantoms.bayes_rate:.3f}); "
          f"train {train.df['patient'].nunique()} patients, test {test.df['patient'].nunique()} (split by patient)",
          flush=True)
    report: dict = {"args": vars(a), "bayes_rate": phantoms.bayes_rate, "header": run_header()}
    parts = a.parts.split(",")
    fitted: dict = {}

    if "classify" in parts:
        predictions, rows = {}, []
        for name, model in models(a, a.default_freeze).items():
            if a.models and name not in a.models.split(";"):
                continue
            if name == "hybrid, cyst" and "CNN, cyst" in fitted:  # one cyst localizer for both cyst models
                model.set_params(localizer=fitted["CNN, cyst"].localizer_, train_localizer=False)
            t0 = time.perf_counter()
            fitted[name] = model.fit(train)
            minutes = (time.perf_counter() - t0) / 60
            called, score = positive_scores(fitted[name].predict(images))
            predictions[name] = (called, score)
            acc = float(np.mean(called == y))
            rows.append({"model": name, "accuracy": acc, "fit_min": minutes, "localizer_reused": not model.train_localizer,
                         "fitter": getattr(fitted[name].predictor_, "fitter_name_", "cnn")})
            print(f"{name}: accuracy {acc:.3f} (Bayes {phantoms.bayes_rate:.3f}), fit {minutes:.1f} min", flush=True)
            if a.p_oligocystic or a.p_thin_wall:  # against what was drawn (not the noisy label), by kind of cyst
                kinds = drawn_kinds(test.df.groupby("image", sort=False).first().loc[truth.index])
                right = called == kinds["drawn"].to_numpy()
                rows[-1]["by_kind"] = {k: [int(right[kinds["kind"] == k].sum()), int((kinds["kind"] == k).sum())]
                                       for k in KINDS}
                print("  against the drawn type: " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in
                                                             rows[-1]["by_kind"].items()), flush=True)
        import pandas as pd  # the calls per frame, so runs of one model each can be compared afterwards

        pd.DataFrame({"image": list(truth.index), "label": y,
                      **{f"{k}|{part}": v[i] for k, v in predictions.items() for i, part in enumerate(("called",
                                                                                                       "score"))}}
                     ).to_csv(out / "predictions.csv", index=False)
        comparison = compare_models(y, predictions, positive="mucinous", title="EUS phantoms, held-out patients")
        print("\n" + comparison.to_markdown(), flush=True)
        report["classify"] = {"rows": rows, "comparison": comparison.to_dict()}

    if "freeze" in parts:
        from explainendo import EUSCystClassifier
        from explainendo.systems import eus_cnn
        from explainendo.training import Training
        from explainendo.evaluate.auc import delong_ci

        rows = []
        for k in [int(v) for v in a.freeze.split(",")]:
            if k == a.default_freeze and "classify" in report:  # the classify run's whole-frame CNN is this one
                row = next(r for r in report["classify"]["rows"] if r["model"] == "CNN, whole frame")
                called, score = predictions["CNN, whole frame"]
                ci = delong_ci(y, score, positive="mucinous")
                rows.append({"frozen_stages": k, "accuracy": row["accuracy"], "auc": ci.auc, "auc_low": ci.low,
                             "auc_high": ci.high, "fit_min": row["fit_min"]})
                print(f"frozen stages {k}: accuracy {rows[-1]['accuracy']:.3f}, AUC {ci.auc:.3f} "
                      f"({ci.low:.3f}-{ci.high:.3f}), fit {row['fit_min']:.1f} min (the classify run)", flush=True)
                continue
            model = EUSCystClassifier(approach="cnn", input="frame", seed=a.seed,
                                      predictor=eus_cnn(k, seed=a.seed, image_size=a.cnn_size,
                                                        training=Training(epochs=a.epochs, batch_size=32, patience=4,
                                                                          **({} if a.threads is None else
                                                                             {"num_threads": a.threads}))))
            t0 = time.perf_counter()
            model.fit(train)
            minutes = (time.perf_counter() - t0) / 60
            called, score = positive_scores(model.predict(images))
            ci = delong_ci(y, score, positive="mucinous")
            rows.append({"frozen_stages": k, "accuracy": float(np.mean(called == y)), "auc": ci.auc,
                         "auc_low": ci.low, "auc_high": ci.high, "fit_min": minutes})
            print(f"frozen stages {k}: accuracy {rows[-1]['accuracy']:.3f}, AUC {ci.auc:.3f} "
                  f"({ci.low:.3f}-{ci.high:.3f}), fit {minutes:.1f} min", flush=True)
        report["freeze"] = rows

    if "robustness" in parts:
        report["robustness"] = {}
        for name in [n for n in ("CNN, whole frame", "hybrid, cyst") if n in fitted]:
            t0 = time.perf_counter()
            rob = evaluate_robustness(fitted[name], test, positive="mucinous")
            rob.save(out / f"robustness_{name.replace(', ', '_').replace(' ', '_')}")
            print(f"\n== robustness: {name} ({(time.perf_counter() - t0) / 60:.1f} min)\n{rob.to_markdown()}\n"
                  f"breaks (> 2 points): {rob.breaks(0.02)}", flush=True)
            report["robustness"][name] = rob.to_dict()

    if "gradcam" in parts and "CNN, whole frame" in fitted:
        from explainendo.systems.eus import heat_ratio_summary

        model = fitted["CNN, whole frame"]
        results = model.predict(images, keep_frames=True)
        exps = [model.explain(r, cyst_box=box) for r, box, t in zip(results, cysts, y) if r.ok and r.label == t]
        summary = heat_ratio_summary(exps)
        print(f"\nGrad-CAM (whole-frame CNN, {summary['n']} correct test frames, {summary['flat']} more with a flat "
              f"map left out): heat inside the cyst "
              f"{summary['heat']:.3f}, the cyst's share of the frame {summary['area']:.3f}, ratio "
              f"{summary['ratio']:.2f} (goal >= 2)", flush=True)
        report["gradcam"] = summary

    if "shap" in parts and "hybrid, cyst" in fitted:
        model = fitted["hybrid, cyst"]
        table = test.df.groupby("image", sort=False).first()
        results = model.predict(images, keep_frames=True)
        named = {k: [0, 0] for k in FINDING_GROUPS}
        alike = {k: [0, 0] for k in FINDING_GROUPS}  # on the look-alikes (oligocystic serous, thin-walled mucinous)
        tops = {}
        for r, image, t in zip(results, truth.index, y):
            if not (r.ok and r.label == t):
                continue
            top = model.explain(r, gradcam=False).top_groups(3)
            tops[image] = top
            row = table.loc[image]
            look_alike = (row["attr.cyst_type"] == "serous" and row["attr.locularity"] == "unilocular") or \
                (row["attr.cyst_type"] == "mucinous" and row["attr.wall"] == "thin")
            for finding, (column, value) in FINDING_GROUPS.items():
                if str(row[column]) == value:
                    for counts in ((named, alike) if look_alike else (named,)):
                        counts[finding][1] += 1
                        counts[finding][0] += int(finding in top)
        rate = lambda v: {"named": v[0], "present": v[1], "rate": v[0] / v[1] if v[1] else float("nan")}  # noqa: E731
        rates = {k: rate(v) for k, v in named.items()}
        total = sum(v[0] for v in named.values()) / max(1, sum(v[1] for v in named.values()))
        print(f"\nhybrid SHAP: a drawn finding among the top 3 groups on correct cases: {total:.3f} "
              f"(goal >= 0.90); " + ", ".join(f"{k} {v['named']}/{v['present']}" for k, v in rates.items()), flush=True)
        if a.p_oligocystic or a.p_thin_wall:
            print("  on the look-alikes: " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in alike.items()), flush=True)
        groups = {}
        for top in tops.values():
            for g in top:
                groups[g] = groups.get(g, 0) + 1
        print(f"  groups in the top 3 ({len(tops)} correct cases): "
              + ", ".join(f"{g} {c}" for g, c in sorted(groups.items(), key=lambda kv: -kv[1])), flush=True)
        report["shap"] = {"overall": total, **rates, "look_alikes": {k: rate(v) for k, v in alike.items()},
                          "top3_counts": groups}

    if "jitter" in parts and "hybrid, cyst" in fitted:
        from explainendo.features import LesionSamples
        from explainendo.predict import BoxJitter

        model = fitted["hybrid, cyst"]
        predictor = model.predictor_
        lesions = LesionSamples.from_manifest(train, enlarge=model.enlarge)  # the rows the hybrid trained on
        lesions = lesions.subset(np.flatnonzero(lesions.table["label"].notna().to_numpy()))
        fitter_rows = lesions.subset(predictor.training_rows_)
        kinds = drawn_kinds(test.df.groupby("image", sort=False).first().loc[truth.index])
        settings = [None] + [BoxJitter(*(float(v) for v in spec.split(":")[:2]), copies=int(spec.split(":")[2]))
                             for spec in a.jitter.split(",") if spec]
        report["jitter"] = []
        print("\nthe hybrid's fitter refit on its training rows, the heads kept (accuracy; against the drawn type):",
              flush=True)
        for setting in settings:
            predictor.set_params(box_jitter=setting)
            predictor.refit_fitter(fitter_rows)
            called, _ = positive_scores(model.predict(images))
            right = called == kinds["drawn"].to_numpy()
            entry = {"box_jitter": repr(setting), "fitter": predictor.fitter_name_, "accuracy": float(np.mean(called == y)),
                     "by_kind": {k: [int(right[kinds["kind"] == k].sum()), int((kinds["kind"] == k).sum())]
                                 for k in KINDS}}
            report["jitter"].append(entry)
            print(f"  {entry['box_jitter']:<48} {entry['fitter']:<28} {entry['accuracy']:.3f}; "
                  + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in entry["by_kind"].items()), flush=True)

    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"\nreport: {out / 'report.json'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
