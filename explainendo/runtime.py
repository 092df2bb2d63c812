"""ONNX export of a saved model's networks, and their forward passes in onnxruntime (``runtime="onnx"``).

``explainendo export MODEL --onnx`` (:func:`export_onnx`) writes one ``network.onnx`` beside the weights of every
network of a model folder: the attribute heads (one graph: the shared backbone and every head, whether it reads
the crop or the frame), a CNN classifier's network (the same class), the soft-mask U-Net localizer, the box
localizers (CenterNet, box regression) and the embedding backbone of a fitted OOD detector with ``embedding`` set
(``ood/network.onnx``, output ``embedding``, input in [0, 1] as :func:`~explainendo.explain.ood.embed_images` feeds
it; its weights are not in the folder but rebuilt from local ImageNet weights, so its entry records
``weights: local-imagenet:<backbone>`` instead of ``weights_sha256``). Each graph is checked against torch on
random inputs before anything is written (largest absolute difference of the probabilities, or of the raw outputs
scaled by their size for the box localizers and the embedding, at most ``atol`` = 1e-4; else
:class:`~explainendo.errors.ModelFileError` and the folder is left as it was). The files are listed in the folder's
``checksums.sha256`` like every other file, and in ``onnx.yaml``::

    format: explainendo-onnx
    format_version: 1
    exported: 2026-12-07T02:00:00+00:00
    versions: {torch: ..., onnx: ..., onnxruntime: ...}
    opset: 17
    atol: 0.0001
    networks:
    - path: predictor/sources/00_attributes     # the component's folder
      kind: attribute_heads
      file: predictor/sources/00_attributes/network.onnx
      weights_sha256: ...                        # the model.safetensors it was exported from
      input: {name: images, shape: [n, 3, 96, 96], range: [0.0, 1.0]}
      outputs: [bleeding, elevation, ..., gradcam_feature_map_stage3]
      max_abs_diff: 2.4e-07

``explainendo.load(folder, runtime="onnx")`` loads the model as always (checksums first, torch weights included)
and gives each exported network an onnxruntime session (CPU provider, intra-op threads = the torch thread count
the network runs with: its ``training.num_threads``, else one per core) that its forward passes use from then on:
:meth:`AttributeHeads.predict_proba` (hence a hybrid's features and a CNN classifier's probabilities),
:meth:`SoftMaskLocalizer.predict_masks`, the box localizers' :meth:`forward_batches` and the OOD detector's
embedding (:meth:`OODDetector.use_onnx`: at load the session embeds the detector's probe image, which must give
the saved ``embedding_probe_`` within the tolerance the torch check uses, else ModelFileError; the torch backbone
is then never built for scoring). Everything else stays as it is. Grad-CAM needs gradients, so it keeps the torch
network: the heads' graph also outputs the feature map ``A`` of the backbone stage the heads' CAM reads
(``HeadCAM.layer`` resolved when the graph was exported: output ``gradcam_feature_map_stage<k>``, or
``gradcam_feature_map`` for the last stage, the only one graphs exported before issue 24 have), the forward pass up
to it, and the stages after it, the heads and ``d score / d A`` run in torch (the maps equal torch's within float
error). A graph without the output of the stage the heads read now (exported with another ``cam`` setting, or
before) still runs the probabilities; Grad-CAM then computes ``A`` in torch. An ONNX file is data: it is read as
bytes after its checksum is verified (no path or external-data file is resolved), and onnxruntime builds the graph
from its standard operators; nothing from the folder is executed. A folder whose weights changed after the export
(``weights_sha256``) or without an export, or whose index lacks a network of the model (the OOD embedding of a
folder exported before it joined the export), is refused with a typed error naming the command that fixes it.

``onnx`` (export) and ``onnxruntime`` (export and ``runtime="onnx"``) come with ``pip install 'explainendo[onnx]'``;
without them a :class:`~explainendo.errors.MissingDependencyError` says so. The exporter is torch's TorchScript one
(``torch.onnx.export(..., dynamo=False)``): it works offline and needs no ``onnxscript``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import io
import shutil
import time
import warnings
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from .errors import ConfigError, MissingDependencyError, ModelFileError

ONNX_FILE = "network.onnx"
ONNX_INDEX = "onnx.yaml"
INDEX_FORMAT = "explainendo-onnx"
INDEX_VERSION = 1
RUNTIMES = ("torch", "onnx")
#: the attribute heads' graph's last output when their CAM reads the backbone's last stage: its feature map
#: (Grad-CAM's ``A``); for an earlier stage ``k``, ``gradcam_feature_map_stage<k>`` (:func:`cam_output_name`)
FEATURE_MAP = "gradcam_feature_map"
#: the output of the OOD detector's embedding graph: the backbone's pooled features
EMBEDDING_OUTPUT = "embedding"
#: ``weights`` of an OOD embedding's entry in onnx.yaml: the local ImageNet weights of the backbone it names
LOCAL_WEIGHTS = "local-imagenet:"
OPSET = 17
DEFAULT_ATOL = 1e-4
INSTALL_HINT = "pip install 'explainendo[onnx]'"


# ---- optional packages ------------------------------------------------------------------------------------------
def require_onnxruntime():
    """The ``onnxruntime`` module, or :class:`MissingDependencyError` naming the install command."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingDependencyError("onnxruntime is not installed: runtime='onnx' and the ONNX export need it",
                                     hint=INSTALL_HINT) from exc
    return onnxruntime


def require_onnx():
    """The ``onnx`` module (torch's exporter writes through it), or :class:`MissingDependencyError`."""
    try:
        import onnx
    except ImportError as exc:
        raise MissingDependencyError("onnx is not installed: the ONNX export needs it", hint=INSTALL_HINT) from exc
    return onnx


def check_runtime(runtime: Any) -> str:
    if runtime not in RUNTIMES:
        raise ConfigError(f"runtime={runtime!r} is not one of {list(RUNTIMES)}",
                          hint="'torch' (default) or 'onnx' (after explainendo export MODEL --onnx)")
    return str(runtime)


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _in(rel: str, name: str) -> str:
    """``name`` inside the component folder ``rel`` (relative to the model folder; ``.`` is the folder itself)."""
    return name if rel in (".", "") else f"{rel}/{name}"


# ---- one session ----------------------------------------------------------------------------------------------------
class OnnxNetwork:
    """An onnxruntime session for one exported network: ``net(x) -> list of arrays`` (one per output, in
    ``output_names`` order) for a float32 batch ``x`` (any batch size). CPU provider, ``threads`` intra-op threads,
    sequential execution. Built from the file's bytes (no path is resolved); a copy or a pickle rebuilds it.

    ``spinning=False`` (default): the pool's threads sleep between runs instead of spinning. The per-frame path
    alternates network runs with numpy work (handcrafted features, decoding, drawing) on the same cores, which
    spinning threads slow down: on the 2-core benchmark machine, shared with other work, the whole ``predict``
    took 52 ms per frame without spinning against 71 ms with it (median of 4 interleaved passes, 2026-12-07)."""

    def __init__(self, model: bytes, input_name: str, output_names: Sequence[str], threads: int,
                 source: Any = None, spinning: bool = False):
        self.model = bytes(model)
        self.input_name = str(input_name)
        self.output_names = [str(n) for n in output_names]
        self.threads = int(threads)
        self.source = None if source is None else str(source)
        self.spinning = bool(spinning)
        self._open()

    def _open(self) -> None:
        ort = require_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if not self.spinning:  # idle pool threads sleep instead of spinning between runs
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(self.model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - any onnxruntime failure means the file is unusable
            raise ModelFileError(f"onnxruntime cannot read this ONNX file ({str(exc)[:300]})", source=self.source,
                                 hint="export it again: explainendo export MODEL --onnx") from None
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if inputs != [self.input_name] or outputs != self.output_names:
            raise ModelFileError(f"the ONNX graph has inputs {inputs} and outputs {outputs}, not the network's",
                                 source=self.source, hint="export it again: explainendo export MODEL --onnx")

    def __call__(self, x: np.ndarray, outputs: Sequence[str] | None = None) -> list[np.ndarray]:
        """The outputs (all, or those named in ``outputs``, in that order) for the float32 batch ``x``."""
        names = self.output_names if outputs is None else list(outputs)
        return self.session.run(names, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "session"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._open()

    def __repr__(self) -> str:
        return f"OnnxNetwork({self.source or '<bytes>'}, {self.threads} threads)"


def _network_threads(component) -> int:
    """The thread count the component's torch forward passes run with (``torch_threads(training.num_threads)``)."""
    from .torch_threads import default_threads

    training = getattr(component, "_training", None)
    n = getattr(training, "num_threads", None)
    return int(n) if n else default_threads()


def cam_output_name(stage: int, stages: int) -> str:
    """The name of the heads' graph output holding the output of backbone stage ``stage`` (of ``stages``)."""
    return FEATURE_MAP if stage == stages - 1 else f"{FEATURE_MAP}_stage{int(stage)}"


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits (float32 in, float32 out), as ``torch.softmax(z, 1)``."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


# ---- what each kind of network exports ------------------------------------------------------------------------------
@dataclass
class OnnxGraph:
    """How one network component exports: the torch ``module`` (eval mode, CPU), its input (``input_name``,
    ``shape`` without the batch, values drawn in ``value_range`` for the parity check), ``output_names``, and
    ``compare``: raw outputs -> ``(array, relative)`` pairs the parity check compares: probabilities where there
    are any (absolute difference), other outputs by ``|a - b| / max(1, |b|)`` (feature maps, boxes in pixels)."""

    module: Any
    input_name: str
    shape: tuple[int, ...]
    value_range: tuple[float, float]
    output_names: list[str]
    compare: Any = None


def onnx_graph(component) -> OnnxGraph | None:
    """The :class:`OnnxGraph` of a network component (attribute heads, the soft-mask U-Net, a box localizer);
    None for a component without a network this module exports (handcrafted features, YOLO, a whole frame)."""
    import copy

    from torch import nn

    from .explain.ood import OODDetector
    from .heads.attribute_heads import AttributeHeads
    from .localize.box_localizer import BoxNetLocalizer
    from .localize.soft_mask_localizer import SoftMaskLocalizer

    if isinstance(component, OODDetector):
        if not _has_embedding(component):
            return None
        s = int(component.embedding_size)
        # the backbone rebuilt from its local weights and checked against the detector's probe (OODDetector._network)
        return OnnxGraph(component._network(), "images", (3, s, s), (0.0, 1.0), [EMBEDDING_OUTPUT],
                         compare=lambda outs: [(outs[0], True)])
    if isinstance(component, AttributeHeads) and hasattr(component, "net_"):
        names = [s.name for s in component.net_specs_]
        stage = component._cam_stage()
        cam_output = cam_output_name(stage, len(component.net_.backbone.stages))
        if cam_output in names:
            raise ConfigError(f"a head is named {cam_output!r}, the name of the graph's feature-map output",
                              hint="rename the attribute")

        class HeadsGraph(nn.Module):
            """One backbone forward -> every head's logits (crop and frame heads alike: the caller takes the
            crop heads' rows of the crops and the frame heads' rows of the frames from one batch), and the CAM
            stage's feature map (what Grad-CAM differentiates the heads' scores against)."""

            def __init__(self, net):
                super().__init__()
                self.backbone = net.backbone
                self.heads = nn.ModuleList([net.heads[n] for n in names])

            def forward(self, images):
                middle = self.backbone.run(images, 0, stage + 1)
                pooled = self.backbone.run(middle, stage + 1).mean(dim=(2, 3))  # = backbone(images)
                return (*(head(pooled) for head in self.heads), middle)

        module = HeadsGraph(copy.deepcopy(component.net_).cpu()).eval()
        s = int(component.image_size)
        return OnnxGraph(module, "images", (3, s, s), (0.0, 1.0), [*names, cam_output],
                         compare=lambda outs: [(softmax(o), False) for o in outs[:-1]] + [(outs[-1], True)])
    if isinstance(component, SoftMaskLocalizer) and getattr(component, "fitted_", False):
        s = int(component.image_size)
        module = copy.deepcopy(component.model_).cpu().eval()
        return OnnxGraph(module, "images", (3, s, s), (-1.0, 1.0), ["logits"],
                         compare=lambda outs: [(sigmoid(outs[0]), False)])
    if isinstance(component, BoxNetLocalizer) and getattr(component, "fitted_", False):
        s = int(component.image_size)
        module = copy.deepcopy(component.model_).cpu().eval()
        import torch

        with torch.no_grad():
            outs = module(torch.zeros(1, 3, s, s))
        count = len(outs) if isinstance(outs, (tuple, list)) else 1
        return OnnxGraph(module, "images", (3, s, s), (-1.0, 1.0), [f"output_{i}" for i in range(count)],
                         compare=lambda outs: [(o, True) for o in outs])
    return None


def _has_embedding(component) -> bool:
    """A fitted OOD detector with a backbone embedding (one of image statistics only has no network)."""
    return getattr(component, "embedding", None) is not None and hasattr(component, "spaces_")


def _is_network(component) -> bool:
    from .explain.ood import OODDetector
    from .heads.attribute_heads import AttributeHeads
    from .localize.box_localizer import BoxNetLocalizer
    from .localize.soft_mask_localizer import SoftMaskLocalizer

    if isinstance(component, OODDetector):
        return _has_embedding(component)
    return isinstance(component, (AttributeHeads, SoftMaskLocalizer, BoxNetLocalizer))


def _weights_record(component, rel: str, checksums: dict[str, str]) -> tuple[str, Any]:
    """What an onnx.yaml entry records of the weights its graph was exported from: ``weights_sha256`` of the
    component's ``model.safetensors``, or for an OOD detector's embedding (not saved in the folder: rebuilt from
    local ImageNet weights, checked against its probe) ``weights: local-imagenet:<backbone>``."""
    from .explain.ood import OODDetector

    if isinstance(component, OODDetector):
        return "weights", f"{LOCAL_WEIGHTS}{component.embedding}"
    return "weights_sha256", checksums.get(_in(rel, "model.safetensors"))


# ---- the networks of a model, found as it loads ------------------------------------------------------------------
@dataclass
class _Loading:
    root: Path
    runtime: str
    checksums: dict[str, str]
    index: dict | None = None
    networks: list[tuple[str, Any]] = field(default_factory=list)


_LOADING: ContextVar[_Loading | None] = ContextVar("explainendo_loading", default=None)


@contextlib.contextmanager
def loading(root, runtime: str = "torch", checksums: dict[str, str] | None = None) -> Iterator[_Loading]:
    """While a model folder loads: collect its network components (with their folders relative to ``root``) and,
    for ``runtime="onnx"``, give each its session. :meth:`Component.load` reports every component it loads."""
    root = Path(root)
    context = _Loading(root, check_runtime(runtime), dict(checksums or {}))
    if context.runtime == "onnx":
        require_onnxruntime()
        context.index = read_index(root)
    token = _LOADING.set(context)
    try:
        yield context
    finally:
        _LOADING.reset(token)


def component_loaded(component, directory) -> None:
    """Called by :meth:`Component.load` for every component it loads (a no-op outside :func:`loading`)."""
    context = _LOADING.get()
    if context is None or not _is_network(component):
        return
    try:
        rel = Path(directory).resolve().relative_to(context.root.resolve()).as_posix()
    except ValueError:
        return
    context.networks.append((rel, component))
    if context.runtime == "onnx":
        session = _open_exported(context, rel, component)
        if hasattr(component, "use_onnx"):  # the OOD detector: its probe embedding checks the graph first
            component.use_onnx(session, source=str(context.root / _in(rel, ONNX_FILE)),
                               hint=f"export again: explainendo export {context.root} --onnx (or load it with "
                                    "runtime='torch')")
        else:
            component.onnx_ = session


def _open_exported(context: _Loading, rel: str, component) -> OnnxNetwork:
    entries = {e.get("path"): e for e in (context.index or {}).get("networks") or [] if isinstance(e, dict)}
    entry = entries.get(rel)
    folder = context.root / rel
    if entry is None:
        what = ("the OOD detector's embedding network (folders exported before it joined the export lack it)"
                if hasattr(component, "use_onnx") else "the network")
        raise ModelFileError(f"no ONNX export of {what} in {rel}", source=str(folder),
                             hint=f"run: explainendo export {context.root} --onnx")
    key, weights = _weights_record(component, rel, context.checksums)
    if entry.get(key) != weights:
        raise ModelFileError("the ONNX file was exported from other weights than the folder holds now",
                             source=str(folder / ONNX_FILE), hint=f"export again: explainendo export {context.root} --onnx")
    file_rel = str(entry.get("file", ""))
    path = context.root / file_rel
    if file_rel != _in(rel, ONNX_FILE) or not path.is_file():
        raise ModelFileError("the ONNX file listed in onnx.yaml is missing", source=str(path),
                             hint=f"export again: explainendo export {context.root} --onnx")
    data = path.read_bytes()
    if context.checksums and context.checksums.get(file_rel) != _sha256_bytes(data):
        raise ModelFileError("file was modified after saving (checksum mismatch)", source=str(path),
                             hint="do not edit a model folder; export again")
    graph_input = entry.get("input") or {}
    return OnnxNetwork(data, graph_input.get("name", "images"), entry.get("outputs") or [],
                       threads=_network_threads(component), source=path)


def read_index(root) -> dict:
    """A folder's ``onnx.yaml`` (safe YAML), or :class:`ConfigError` when the networks were never exported."""
    import yaml

    path = Path(root) / ONNX_INDEX
    if not path.is_file():
        raise ConfigError("this model folder has no ONNX export", source=str(root),
                          hint=f"run: explainendo export {root} --onnx   (or load it with runtime='torch')")
    try:
        index = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ModelFileError(f"cannot read ({exc})", source=str(path)) from None
    if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT or index.get("format_version") != INDEX_VERSION:
        raise ModelFileError("not an explainendo ONNX index of this version", source=str(path),
                             hint=f"export again: explainendo export {root} --onnx")
    return index


# ---- export ---------------------------------------------------------------------------------------------------------
@dataclass
class ExportedNetwork:
    """One exported network: its component folder (``path``), ``kind``, the ``file`` written (relative to the
    model folder), its size, the parity check's largest difference and the export's seconds."""

    path: str
    kind: str
    file: str
    bytes: int
    max_abs_diff: float
    seconds: float


def _export_bytes(graph: OnnxGraph, opset: int) -> bytes:
    import torch

    example = torch.rand(2, *graph.shape)
    buffer = io.BytesIO()
    dynamic = {graph.input_name: {0: "n"}, **{name: {0: "n"} for name in graph.output_names}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(graph.module, (example,), buffer, dynamo=False, input_names=[graph.input_name],
                          output_names=graph.output_names, dynamic_axes=dynamic, opset_version=opset,
                          do_constant_folding=True)
    return buffer.getvalue()


def parity(graph: OnnxGraph, network: OnnxNetwork, rng: np.random.Generator, batches: Sequence[int] = (3, 1)) -> float:
    """Largest difference between torch and onnxruntime on random inputs in ``graph.value_range`` (the arrays of
    ``graph.compare``: probabilities of the heads and the U-Net absolutely; feature maps and box nets' outputs
    over ``max(1, |torch|)``)."""
    import torch

    worst = 0.0
    lo, hi = graph.value_range
    for n in batches:
        x = rng.uniform(lo, hi, size=(n, *graph.shape)).astype(np.float32)
        with torch.no_grad():
            ref = graph.module(torch.from_numpy(x))
        ref = [r.numpy() for r in (ref if isinstance(ref, (tuple, list)) else (ref,))]
        got = network(x)
        for (a, _), (b, relative) in zip(graph.compare(got), graph.compare(ref)):
            diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
            if relative:
                diff = diff / np.maximum(1.0, np.abs(b.astype(np.float64)))
            worst = max(worst, float(diff.max()) if diff.size else 0.0)
    return worst


def export_onnx(model_dir, out=None, *, atol: float = DEFAULT_ATOL, opset: int = OPSET,
                seed: int = 0) -> list[ExportedNetwork]:
    """Export every network of the model folder ``model_dir`` to ONNX (module docstring), in that folder or in
    ``out`` (a copy of the folder with the exports added; an older model folder there is replaced). Checks each
    graph against torch on random inputs first: :class:`ModelFileError` when one differs by more than ``atol``, or
    when the model holds no network; nothing is written then. Returns what was written."""
    import yaml

    from .bundle import prepare_folder, verify_bundle, write_checksums
    from .components import Component

    require_onnx()
    ort = require_onnxruntime()
    import torch

    if not (isinstance(atol, (int, float)) and atol > 0):
        raise ConfigError(f"atol={atol!r} must be a positive number", hint="e.g. 1e-4")
    source = Path(model_dir)
    checksums = verify_bundle(source)
    with loading(source, "torch", checksums) as context:
        Component.load(source)
    if not context.networks:
        raise ModelFileError("this model has no network to export (e.g. a whole-frame localizer and handcrafted "
                             "features only)", source=str(source), hint="nothing to do: it runs without torch networks")
    rng = np.random.default_rng(seed)
    written: list[tuple[ExportedNetwork, bytes, dict]] = []
    for rel, component in context.networks:
        graph = onnx_graph(component)
        if graph is None:
            continue
        start = time.perf_counter()
        data = _export_bytes(graph, opset)
        session = OnnxNetwork(data, graph.input_name, graph.output_names, threads=_network_threads(component),
                              source=_in(rel, ONNX_FILE))
        diff = parity(graph, session, rng)
        if not diff <= atol:
            raise ModelFileError(f"the ONNX graph of {rel} differs from torch by {diff:.3g} (> atol {atol:g}) on "
                                 "random inputs: not exported", source=str(source / rel),
                                 hint="keep runtime='torch' for this model, or report the network's layers")
        file_rel = _in(rel, ONNX_FILE)
        key, weights = _weights_record(component, rel, checksums)
        entry = {"path": rel, "kind": component.kind, "file": file_rel, key: weights,
                 "input": {"name": graph.input_name, "shape": ["n", *map(int, graph.shape)],
                           "range": [float(v) for v in graph.value_range]},
                 "outputs": list(graph.output_names), "max_abs_diff": float(diff)}
        written.append((ExportedNetwork(rel, component.kind, file_rel, len(data), float(diff),
                                        time.perf_counter() - start), data, entry))
    # every graph checked: only now is anything written (in a copy of the folder with ``out``)
    folder = source
    if out is not None and Path(out).resolve() != source.resolve():
        folder = prepare_folder(out)
        shutil.copytree(source, folder, dirs_exist_ok=True)
        verify_bundle(folder)
    for report, data, _ in written:
        (folder / report.file).write_bytes(data)
    import onnx

    index = {"format": INDEX_FORMAT, "format_version": INDEX_VERSION,
             "exported": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
             "versions": {"torch": str(torch.__version__), "onnx": str(onnx.__version__),
                          "onnxruntime": str(ort.__version__)},
             "opset": int(opset), "atol": float(atol), "networks": [entry for _, _, entry in written]}
    (folder / ONNX_INDEX).write_text(yaml.safe_dump(index, sort_keys=False))
    write_checksums(folder)
    return [report for report, _, _ in written]


def onnx_networks(model) -> list[Any]:
    """The network components of a loaded model that run in onnxruntime (those with a session)."""
    found, seen = [], set()

    def walk(obj, depth=0):
        if id(obj) in seen or depth > 8:
            return
        seen.add(id(obj))
        if getattr(obj, "onnx_", None) is not None:
            found.append(obj)
        if isinstance(obj, (list, tuple)):
            for item in obj:
                walk(item, depth + 1)
        elif isinstance(obj, dict):
            for item in obj.values():
                walk(item, depth + 1)
        elif hasattr(obj, "get_params"):
            for key, value in vars(obj).items():
                if key.endswith("_") and not key.startswith("_"):
                    walk(value, depth + 1)

    walk(model)
    return found
