"""derive_status(): what a user reads about an app, from what the swarm shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloudos.apps import SPEC_LABEL, STATE_LABEL, DesiredApp, Status, derive_status
from cloudos.apps._plan import START_TIMEOUT
from cloudos.engine import ObservedService, ObservedStack
from cloudos.statuses import AppStatus

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
JUST_NOW = NOW - timedelta(seconds=5)
LONG_AGO = NOW - START_TIMEOUT - timedelta(seconds=1)


def app(
    *, state: str = "running", spec: str = "s2", attempted: str | None = "s2:running"
) -> DesiredApp:
    return DesiredApp(1, "t-default-app", state, spec, attempted)  # type: ignore[arg-type]


def service(
    name: str = "web",
    *,
    replicas: int | None = 1,
    running: int = 1,
    spec: str = "s2",
    state: str = "running",
    **more: object,
) -> ObservedService:
    labels = {SPEC_LABEL: spec, STATE_LABEL: state}
    return ObservedService(
        f"t-default-app_{name}",
        replicas=replicas,
        running=running,
        starting=0,
        labels=labels,
        **more,  # type: ignore[arg-type]
    )


def stack(*services: ObservedService) -> ObservedStack:
    return ObservedStack("t-default-app", services)


def status(
    want: DesiredApp, seen: ObservedStack | None, deployed_at: datetime | None = JUST_NOW
) -> Status:
    return derive_status(want, seen, deployed_at=deployed_at, now=NOW)


def test_all_replicas_running_is_running() -> None:
    assert status(app(), stack(service(), service("db", replicas=None, running=1))) == Status(
        AppStatus.RUNNING
    )


def test_no_stack_yet_is_deploying() -> None:
    assert status(app(), None) == Status(AppStatus.DEPLOYING)


def test_tasks_coming_up_is_starting() -> None:
    assert status(app(), stack(service(running=0))) == Status(AppStatus.STARTING)


def test_a_transient_error_while_starting_is_starting_with_the_reason() -> None:
    seen = stack(service(running=0, error="task: non-zero exit (1)", error_state="failed"))
    assert status(app(), seen) == Status(
        AppStatus.STARTING, "t-default-app_web: task: non-zero exit (1)"
    )


@pytest.mark.parametrize(
    "error",
    [
        "No such image: cloudos/x:1",
        "no suitable node (scheduling constraints not satisfied on 1 node)",
        "host-mode port already in use on 1 node",
    ],
)
def test_a_permanent_error_fails_at_once_with_the_reason(error: str) -> None:
    seen = stack(service(running=0, error=error, error_state="rejected"))
    assert status(app(), seen) == Status(AppStatus.FAILED, f"t-default-app_web: {error}")


def test_a_transient_error_fails_after_the_start_timeout() -> None:
    seen = stack(service(running=0, error="task: non-zero exit (1)", error_state="failed"))
    assert status(app(), seen, LONG_AGO) == Status(
        AppStatus.FAILED, "t-default-app_web: task: non-zero exit (1)"
    )


def test_tasks_that_never_come_up_fail_after_the_start_timeout() -> None:
    assert status(app(), stack(service(running=0)), LONG_AGO) == Status(
        AppStatus.FAILED, "tasks did not start within 60 s"
    )


def test_an_error_of_a_service_that_runs_fully_again_is_not_a_failure() -> None:
    seen = stack(service(running=1, error="task: non-zero exit (1)", error_state="failed"))
    assert status(app(), seen, LONG_AGO) == Status(AppStatus.RUNNING)


def test_swarm_rollback_of_the_attempted_spec_shows_rolled_back_with_the_message() -> None:
    seen = stack(
        service(
            spec="s1",
            update_state="rollback_completed",
            update_message="update rolled back due to failure or early termination of task x",
        )
    )
    assert status(app(spec="s2", attempted="s2:running"), seen) == Status(
        AppStatus.ROLLED_BACK,
        "update failed and was rolled back: "
        "update rolled back due to failure or early termination of task x",
    )


def test_a_rollback_without_message_still_says_why() -> None:
    seen = stack(service(spec="s1", update_state="rollback_completed"))
    assert status(app(), seen).reason == ("update failed and was rolled back: the new tasks failed")


def test_an_old_rollback_of_a_spec_that_is_current_again_is_running() -> None:
    # After a manual rollback to the spec swarm rolled back to, the stack shows it again.
    seen = stack(service(spec="s1", update_state="rollback_completed"))
    assert status(app(spec="s1", attempted="s1:running"), seen) == Status(AppStatus.RUNNING)


def test_rollback_in_progress_is_rolling_back() -> None:
    seen = stack(service(running=0, update_state="rollback_started", error="unhealthy container"))
    assert status(app(), seen) == Status(
        AppStatus.ROLLING_BACK, "t-default-app_web: unhealthy container"
    )


def test_stopping_until_every_task_is_gone_then_stopped() -> None:
    want = app(state="stopped", attempted="s2:stopped")
    assert status(want, stack(service(replicas=0, running=1, state="stopped"))) == Status(
        AppStatus.STOPPING
    )
    assert status(want, stack(service(replicas=0, running=0, state="stopped"))) == Status(
        AppStatus.STOPPED
    )


def test_rolling_update_is_updating() -> None:
    seen = stack(service(update_state="updating", running=0))
    assert status(app(), seen) == Status(AppStatus.UPDATING)


def test_removed_app_is_removing_whatever_is_seen() -> None:
    assert status(app(state="removed"), stack(service())) == Status(AppStatus.REMOVING)
    assert status(app(state="removed"), None) == Status(AppStatus.REMOVING)


def test_a_missing_deploy_time_does_not_leave_an_app_starting_for_ever() -> None:
    # deployed_at is unknown (e.g. not recorded before a crash): errors count at once.
    seen = stack(service(running=0, error="task: non-zero exit (1)", error_state="failed"))
    assert status(app(), seen, None).status == "failed"


def test_a_busy_host_port_during_a_rolling_update_is_not_a_failure_until_it_lasts() -> None:
    # The old task still holds the port while the swarm places the new one.
    error = "no suitable node (host-mode port already in use on 1 node)"
    seen = stack(service(running=0, error=error, error_state="pending", update_state="updating"))
    assert status(app(), seen) == Status(AppStatus.UPDATING)
    assert status(app(), seen, LONG_AGO) == Status(AppStatus.FAILED, f"t-default-app_web: {error}")
