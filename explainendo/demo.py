"""The README's demo: what runs end to end on embedded defaults, on a machine with no GPU and no internet."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table


def summarise_shared_data(data_root: Path, console: Console) -> None:
    """Load every shared dataset that is present, validate it, and print one summary table."""
    from .errors import ExplainendoError
    from .io.loaders import LOADERS

    folders = {"edd2020": "edd2020", "kvasir-seg": "kvasir-seg-256", "cp-child": "cp-child-normal-256",
               "dsoc": "dsoc-cholangioscopy"}
    table = Table(title=f"Shared datasets under {data_root}")
    for col in ("dataset", "images", "groups", "boxes", "labels / box classes", "problems"):
        table.add_column(col)
    for name, folder in folders.items():
        path = data_root / folder
        if not path.is_dir():
            table.add_row(name, "-", "-", "-", "absent", "-")
            continue
        try:
            m = LOADERS[name](path).validate(strict=False, check_images=False)
        except ExplainendoError as exc:
            table.add_row(name, "-", "-", "-", f"error: {exc}", "-")
            continue
        s = m.summary()
        groups = s.get("videos") or s.get("centres") or s["patients"]
        classes = s.get("box_labels") or s.get("labels") or {}
        table.add_row(name, str(s["images"]), str(groups), str(s.get("boxes", 0)),
                      ", ".join(f"{k} {v}" for k, v in classes.items()), str(len(m.report.problems)))
    console.print(table)


def run_demo(out: Path = Path("demo_output"), data_root: Path = Path("../shared/data")) -> None:
    console = Console()
    out.mkdir(parents=True, exist_ok=True)
    summarise_shared_data(Path(data_root), console)
