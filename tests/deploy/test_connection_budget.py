"""The start-up warning when one instance could take more than its share of the stated
database connection budget (docs/single-vm.md#the-connection-budget)."""

from __future__ import annotations

import pytest

from fundament.cli import _check_connection_budget
from fundament.platform import Settings


def test_an_instance_over_its_share_is_warned_about(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(db_connection_budget=90, instances=3, pool_max_size=32)
    _check_connection_budget(settings, workers=2)
    err = capsys.readouterr().err
    assert "warning: this instance may open 66 database connections" in err
    assert "share 30 of FUNDAMENT_DB_CONNECTION_BUDGET 90 over FUNDAMENT_INSTANCES 3: 198 in all" in err
    # 2 workers × (14 + 1) = 30: the advice fits.
    assert "Lower FUNDAMENT_POOL_MAX_SIZE to 14" in err


@pytest.mark.parametrize(
    "budget, instances, workers, pool", [(None, 50, 8, 32), (99, 3, 1, 32), (100, 2, 2, 24)]
)
def test_within_the_share_or_without_a_budget_nothing_is_said(
    capsys: pytest.CaptureFixture[str], budget: int | None, instances: int, workers: int, pool: int
) -> None:
    settings = Settings(db_connection_budget=budget, instances=instances, pool_max_size=pool)
    _check_connection_budget(settings, workers=workers)
    assert capsys.readouterr().err == ""
