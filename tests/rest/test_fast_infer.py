"""The infer route taken before starlette's router: which paths it claims."""

from __future__ import annotations

import pytest

from kernel.rest.fast_infer import infer_target


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/v2/models/iris/infer", ("iris", None)),
        ("/v2/models/iris/versions/2/infer", ("iris", "2")),
        ("/v2/models/my model/versions/v1.0/infer", ("my model", "v1.0")),
        # Not infer routes: starlette answers them (404 / 405) with the same error table.
        ("/v2/models//infer", None),
        ("/v2/models/iris/versions//infer", None),
        ("/v2/models/iris/extra/2/infer", None),
        ("/v2/models/a/b/infer", None),
        ("/v2/models/iris/ready", None),
        ("/v2/models/iris/infer/", None),
        ("/v1/models/iris/infer", None),
    ],
)
def test_infer_target(path: str, target: tuple[str, str | None] | None) -> None:
    assert infer_target(path) == target
