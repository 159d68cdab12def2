"""plan(): desired + observed -> actions, with plain data."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from cloudos.apps import APP_LABEL, SPEC_LABEL, STATE_LABEL, Deploy, DesiredApp, Remove, plan
from cloudos.apps import RemoveOrphan as Orphan
from cloudos.engine import ObservedService, ObservedStack


def observed(
    name: str, *, app: int | None = 1, spec: str = "s1", state: str = "running", services: int = 1
) -> ObservedStack:
    """A stack as observe_stacks would report it, labelled by build_stack."""
    labels = {SPEC_LABEL: spec, STATE_LABEL: state}
    if app is not None:
        labels[APP_LABEL] = str(app)
    return ObservedStack(
        name,
        tuple(
            ObservedService(f"{name}_svc{i}", replicas=1, running=1, starting=0, labels=labels)
            for i in range(services)
        ),
    )


def desired(
    app_id: int = 1,
    *,
    state: str = "running",
    spec: str = "s1",
    attempted: str | None = None,
    purge: bool = False,
) -> DesiredApp:
    return DesiredApp(
        app_id=app_id,
        stack=f"t-default-app{app_id}",
        state=state,  # type: ignore[arg-type]
        spec_hash=spec,
        attempted=attempted,
        purge=purge,
    )


def test_missing_stack_is_deployed() -> None:
    assert plan([desired()], {}) == [Deploy(1, "t-default-app1", stopped=False)]


def test_missing_stack_of_a_stopped_app_is_deployed_stopped() -> None:
    assert plan([desired(state="stopped")], {}) == [Deploy(1, "t-default-app1", stopped=True)]


def test_same_spec_needs_nothing() -> None:
    app = desired(attempted="s1:running")
    assert plan([app], {app.stack: observed(app.stack)}) == []


def test_same_spec_needs_nothing_even_when_the_attempt_was_not_recorded() -> None:
    # A crash between deploying and recording: the stack already carries the target.
    app = desired(attempted=None)
    assert plan([app], {app.stack: observed(app.stack)}) == []


def test_new_spec_not_yet_attempted_is_deployed() -> None:
    app = desired(spec="s2", attempted="s1:running")
    assert plan([app], {app.stack: observed(app.stack, spec="s1")}) == [
        Deploy(1, app.stack, stopped=False)
    ]


def test_new_spec_already_attempted_and_rolled_back_by_swarm_is_left_alone() -> None:
    app = desired(spec="s2", attempted="s2:running")
    assert plan([app], {app.stack: observed(app.stack, spec="s1")}) == []


def test_services_disagreeing_after_a_partial_rollback_are_left_alone() -> None:
    app = desired(spec="s2", attempted="s2:running")
    stack = observed(app.stack, spec="s2", services=2)
    partly = ObservedStack(
        stack.name,
        (stack.services[0], replace(stack.services[1], labels={APP_LABEL: "1", SPEC_LABEL: "s1"})),
    )
    assert plan([app], {app.stack: partly}) == []


def test_stop_redeploys_at_zero_and_start_brings_it_back() -> None:
    stop = desired(state="stopped", attempted="s1:running")
    assert plan([stop], {stop.stack: observed(stop.stack)}) == [Deploy(1, stop.stack, stopped=True)]
    start = desired(state="running", attempted="s1:stopped")
    assert plan([start], {start.stack: observed(start.stack, state="stopped")}) == [
        Deploy(1, start.stack, stopped=False)
    ]


def test_stopped_app_already_stopped_needs_nothing() -> None:
    app = desired(state="stopped", attempted="s1:stopped")
    assert plan([app], {app.stack: observed(app.stack, state="stopped")}) == []


def test_removed_app_is_removed_with_its_purge_flag() -> None:
    kept = desired(1, state="removed")
    purged = desired(2, state="removed", purge=True)
    world = {kept.stack: observed(kept.stack), purged.stack: observed(purged.stack, app=2)}
    assert plan([kept, purged], world) == [
        Remove(1, kept.stack, purge=False),
        Remove(2, purged.stack, purge=True),
    ]


def test_removed_app_whose_stack_is_gone_is_still_removed_to_forget_it() -> None:
    assert plan([desired(state="removed")], {}) == [Remove(1, "t-default-app1", purge=False)]


def test_orphan_stack_with_our_app_label_is_removed() -> None:
    assert plan([], {"t-default-gone": observed("t-default-gone", app=7)}) == [
        Orphan("t-default-gone")
    ]


def test_stacks_without_app_label_are_never_touched() -> None:
    foreign = observed("t-router", app=None)
    assert plan([], {"t-router": foreign}) == []
    app = desired(attempted="s1:running")
    assert plan([app], {app.stack: observed(app.stack), "t-router": foreign}) == []


# -- idempotence: plan, apply, plan again -------------------------------------------------


def apply(
    actions: list[Deploy | Remove | Orphan],
    wanted: list[DesiredApp],
    world: dict[str, ObservedStack],
) -> tuple[list[DesiredApp], dict[str, ObservedStack]]:
    """What the reconciler's effects make of the database and the swarm."""
    apps = {app.app_id: app for app in wanted}
    world = dict(world)
    for action in actions:
        if isinstance(action, Deploy):
            app = apps[action.app_id]
            state = "stopped" if action.stopped else "running"
            world[action.stack] = observed(action.stack, app=app.app_id, spec=app.spec_hash,
                                           state=state)  # fmt: skip
            apps[action.app_id] = replace(app, attempted=app.target)
        elif isinstance(action, Remove):
            world.pop(action.stack, None)
            del apps[action.app_id]
        else:
            world.pop(action.stack, None)
    return list(apps.values()), world


SPECS = st.sampled_from(["s1", "s2", "s3"])
STATES = st.sampled_from(["running", "stopped", "removed"])


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[DesiredApp], dict[str, ObservedStack]]:
    """Random desired apps and a random swarm, including orphans and foreign stacks."""
    ids = draw(st.sets(st.integers(1, 12), max_size=8))
    wanted = [
        desired(
            i,
            state=draw(STATES),
            spec=draw(SPECS),
            attempted=draw(st.none() | st.builds("{}:{}".format, SPECS, STATES)),
            purge=draw(st.booleans()),
        )
        for i in sorted(ids)
    ]
    world = {}
    for i in draw(st.sets(st.integers(1, 16), max_size=10)):
        name = f"t-default-app{i}"
        app = draw(st.none() | st.just(i))
        world[name] = observed(name, app=app, spec=draw(SPECS), state=draw(STATES))
    return wanted, world


@given(worlds())
def test_plan_is_deterministic(case: tuple[list[DesiredApp], dict[str, ObservedStack]]) -> None:
    wanted, world = case
    assert plan(wanted, world) == plan(list(wanted), dict(world))


@given(worlds())
def test_one_pass_converges_and_a_second_pass_does_nothing(
    case: tuple[list[DesiredApp], dict[str, ObservedStack]],
) -> None:
    wanted, world = case
    actions = plan(wanted, world)
    wanted, world = apply(actions, wanted, world)
    assert plan(wanted, world) == []
    # Applying the (empty) second plan changes nothing: a third pass agrees.
    assert apply([], wanted, world) == (wanted, world)
    for app in wanted:
        stack = world[app.stack]
        assert app.state != "removed"
        if app.attempted == app.target:
            continue
        assert f"{stack.label(SPEC_LABEL)}:{stack.label(STATE_LABEL)}" == app.target


@given(worlds())
def test_every_action_names_one_app_or_one_orphan_once(
    case: tuple[list[DesiredApp], dict[str, ObservedStack]],
) -> None:
    wanted, world = case
    stacks = [action.stack for action in plan(wanted, world)]
    assert len(stacks) == len(set(stacks))
    ours = {app.stack for app in wanted}
    for action in plan(wanted, world):
        if isinstance(action, Orphan):
            assert action.stack not in ours
            assert world[action.stack].label(APP_LABEL) is not None
