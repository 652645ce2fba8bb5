"""Keyword arguments for a detector's ``predict``: from settings and, for safe keys, requests.

``parameters.extra.predict_parameters`` (MLServer's name) may hold any keyword the detector's
``predict`` takes; a request may set the keys of ``REQUEST_KEYS`` in its ``parameters``, which
only choose what is computed and returned, never how much work is done or what state changes.
Every key is checked against the detector's own ``predict`` signature, so a key the detector does
not take is an error naming it instead of a ``TypeError`` deep inside alibi-detect.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from kernel.errors import BadRequest, SettingsError

__all__ = ["REQUEST_KEYS", "accepted_keys", "request_parameters", "settings_parameters"]


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _choice(*allowed: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in allowed else " or ".join(map(repr, allowed))

    return check


def _percent(value: Any) -> str | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 100
    return None if ok else "a number from 0 to 100"


#: The keys a request may set, each with its check (``None``: fine, else what is allowed).
REQUEST_KEYS: Mapping[str, Callable[[Any], str | None]] = {
    "return_p_val": _bool,
    "return_distance": _bool,
    "return_test_stat": _bool,
    "return_instance_score": _bool,
    "return_feature_score": _bool,
    "drift_type": _choice("batch", "feature"),
    "outlier_type": _choice("instance", "feature"),
    "outlier_perc": _percent,
}


def accepted_keys(predict: Callable[..., Any]) -> tuple[str, ...]:
    """The keyword arguments ``predict`` takes besides the data (its first parameter)."""
    params = list(inspect.signature(predict).parameters.values())
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(p.name for p in params[1:] if p.kind in kinds)


def _check(key: str, value: Any, accepted: tuple[str, ...], where: str) -> str | None:
    """What is wrong with ``key=value`` (a message), or ``None``."""
    if key not in accepted:
        takes = ", ".join(accepted) or "no keyword arguments"
        return (
            f"{where}{key} is not a keyword argument of this detector's predict (it takes: {takes})"
        )
    check = REQUEST_KEYS.get(key)
    wrong = check(value) if check is not None else None
    if wrong is not None:
        return f"{where}{key} must be {wrong}, not {value!r}"
    return None


def settings_parameters(
    extra: Mapping[str, Any], accepted: tuple[str, ...], model: str
) -> dict[str, Any]:
    """``parameters.extra.predict_parameters``, checked; ``SettingsError`` naming a bad key."""
    given = extra.get("predict_parameters")
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise SettingsError(
            f"model {model!r}: parameters.extra.predict_parameters must be an object of"
            f" keyword arguments for the detector's predict, not {given!r}"
        )
    for key, value in given.items():
        problem = _check(key, value, accepted, "parameters.extra.predict_parameters.")
        if problem is not None:
            raise SettingsError(f"model {model!r}: {problem}")
    return dict(given)


def request_parameters(
    parameters: Mapping[str, Any], accepted: tuple[str, ...], model: str
) -> dict[str, Any]:
    """The ``REQUEST_KEYS`` a request's ``parameters`` set, checked; ``BadRequest`` naming a key
    of the wrong type or one this detector does not take. Other parameters are not ours."""
    chosen: dict[str, Any] = {}
    for key, value in parameters.items():
        if key not in REQUEST_KEYS:
            continue
        problem = _check(key, value, accepted, "request parameter ")
        if problem is not None:
            raise BadRequest(f"model {model!r}: {problem}")
        chosen[key] = value
    return chosen
