"""Checkpoints of a stepwise fit: one ``.npz`` file, written atomically, no pickle.

A checkpoint holds everything a stepwise fit needs to continue exactly where
it stopped: the parameters, the running statistics, the step counters and
schedule offset, the loop position (epoch and batch within it), the
early-stopping record and the seed of the batch order. The estimator's
parameters that shape the fit and the data's shape and dtype are stored
too, so that resuming with different ones is an error, not a silent mix.

Arrays are stored as ``.npy`` members; scalars, flags and the estimator
parameters as one JSON string. Loading uses ``allow_pickle=False``, so a
checkpoint file cannot run code.

The file is written to a temporary file in the same directory, flushed to
disk and renamed over the old one (``os.replace``), so a process killed at
any moment leaves either the previous checkpoint or the new one, never a
partial file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile

import numpy as np

from daskmix.mixture._params import GaussianParams
from daskmix.mixture.algorithms.stepwise import (
    STAT_NAMES,
    BatchPlan,
    Cursor,
    EarlyStopping,
    StepwiseState,
)

__all__ = ["check_compatible", "load_checkpoint", "save_checkpoint"]

FORMAT = "daskmix-stepwise-checkpoint"
VERSION = 1

def _param_fields(params_type):
    return tuple(field.name for field in dataclasses.fields(params_type))


def _to_arrays(state, cursor, plan, settings):
    """The ``.npz`` members of a checkpoint.

    Parameters
    ----------
    state : StepwiseState
    cursor : Cursor
    plan : BatchPlan
    settings : dict

    Returns
    -------
    dict of str to ndarray
        Parameters, shift, running statistics and per-epoch lower bounds,
        plus ``meta``: a JSON string of the scalars and ``settings``.
    """
    arrays = {f"param_{name}": getattr(state.params, name)
              for name in _param_fields(type(state.params))}
    arrays["shift"] = state.shift
    if state.stats is not None:
        arrays.update({f"stat_{name}": state.stats[name] for name in STAT_NAMES})
    arrays["lower_bounds"] = np.asarray(cursor.lower_bounds, dtype=np.float64)
    stopping = cursor.stopping
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "settings": settings,
        "params": type(state.params).__name__,
        "state": {
            "nominal_rows": state.nominal_rows, "n_steps": state.n_steps,
            "n_decay_steps": state.n_decay_steps, "offset": state.offset,
            "rows_seen": state.rows_seen, "warm_weight": state.warm_weight,
            "warmed_up": state.warmed_up,
        },
        "cursor": {
            "epoch": cursor.epoch, "position": cursor.position,
            "converged": cursor.converged, "ewa": stopping.ewa, "best": stopping.best,
            "no_improvement": stopping.no_improvement,
        },
        "plan": {"n_samples": plan.n_samples, "batch_rows": plan.batch_rows,
                 "seed": plan.seed},
    }
    arrays["meta"] = np.array(json.dumps(meta))
    return arrays


def save_checkpoint(path, state, cursor, plan, settings):
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The file; its directory must exist.
    state : StepwiseState
    cursor : Cursor
    plan : BatchPlan
    settings : dict
        JSON-serialisable estimator parameters and data description checked
        by :func:`check_compatible` on resume.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    arrays = _to_arrays(state, cursor, plan, settings)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path, params_type=GaussianParams):
    """Read a checkpoint, or None when there is no file at ``path``.

    Parameters
    ----------
    path : str or os.PathLike
    params_type : type, default=GaussianParams
        The parameters' dataclass of the fit resuming it
        (``VariationalParams`` for a Bayesian mixture).

    Returns
    -------
    (StepwiseState, Cursor, BatchPlan, settings) or None
        ``Cursor.stopping`` comes back with ``tol`` and
        ``max_no_improvement`` from ``settings``.

    Raises
    ------
    ValueError
        If the file is not a daskmix stepwise checkpoint of a known version,
        or holds another kind of parameters.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(
            f"{path} is not a readable daskmix checkpoint ({exc}). Delete it, or "
            "pass another checkpoint_path."
        ) from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(
            f"{path} is not a version {VERSION} daskmix stepwise checkpoint "
            f"(format {meta.get('format')!r}, version {meta.get('version')!r}). "
            "Delete it, or pass another checkpoint_path."
        )
    kind = meta.get("params", GaussianParams.__name__)  # files written before the field
    if kind != params_type.__name__:
        raise ValueError(
            f"{path} is a checkpoint of a fit with {kind}, not {params_type.__name__} "
            "(another estimator's). Pass another checkpoint_path, or delete the file."
        )
    params = params_type(**{name: arrays[f"param_{name}"]
                            for name in _param_fields(params_type)})
    stats = None
    if "stat_nk" in arrays:
        stats = {name: arrays[f"stat_{name}"] for name in STAT_NAMES}
    state = StepwiseState(params=params, shift=arrays["shift"], stats=stats, **meta["state"])
    settings = meta["settings"]
    c = meta["cursor"]
    stopping = EarlyStopping(
        tol=settings["tol"], max_no_improvement=settings["max_no_improvement"],
        ewa=c["ewa"], best=c["best"], no_improvement=c["no_improvement"],
    )
    cursor = Cursor(epoch=c["epoch"], position=c["position"], stopping=stopping,
                    lower_bounds=arrays["lower_bounds"].tolist(), converged=c["converged"])
    return state, cursor, BatchPlan(**meta["plan"]), settings


def check_compatible(saved, current, path):
    """Raise if a checkpoint was written by a fit with other settings.

    Parameters
    ----------
    saved, current : dict
        Settings stored in the checkpoint and those of the fit now.
    path : str or os.PathLike
        For the message.

    Raises
    ------
    ValueError
        Naming every setting that differs, and the remedies.
    """
    keys = sorted(set(saved) | set(current))
    differ = [k for k in keys if saved.get(k) != current.get(k)]
    if differ:
        details = ", ".join(
            f"{k}: checkpoint {saved.get(k)!r}, now {current.get(k)!r}" for k in differ
        )
        raise ValueError(
            f"The checkpoint {os.fspath(path)} was written by a fit with other settings "
            f"({details}). Fit with the settings it was written with to resume it, or "
            "delete the file (or pass another checkpoint_path) to start afresh."
        )
