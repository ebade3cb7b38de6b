import asyncio
import threading

import pytest

from liftinfer.engine.loop import EngineLoop, PendingRequest, running_loop


async def where() -> str:
    return threading.current_thread().name


def test_the_engine_s_own_loop_runs_in_its_thread_and_stops_with_it():
    bridge = EngineLoop()
    assert bridge.current is None and not bridge.owned
    assert bridge.run_sync(where()) == "liftinfer-engine-loop"
    loop = bridge.current
    assert bridge.owned and loop.is_running()
    bridge.stop()
    assert bridge.current is None
    threading.Event().wait(0.1)
    assert not loop.is_running()


def test_a_lent_loop_is_used_and_left_running():
    bridge = EngineLoop()

    async def main():
        loop = asyncio.get_running_loop()
        assert bridge.attach(loop)
        assert await bridge.run(where()) == threading.current_thread().name  # no hop
        with pytest.raises(RuntimeError, match="would deadlock"):
            bridge.run_sync(where())
        bridge.stop()  # forgets it, but it is the owner's to stop
        assert running_loop() is loop

    asyncio.run(main())


def test_a_loop_in_use_is_not_replaced():
    bridge = EngineLoop()
    bridge.run_sync(where())
    other = asyncio.new_event_loop()
    try:
        assert not bridge.attach(other)
        bridge.detach(other)  # not the one in use: nothing changes
        assert bridge.owned
    finally:
        other.close()
        bridge.stop()


def test_a_worker_thread_answers_and_a_cancelled_caller_is_marked():
    submitted: list[PendingRequest] = []

    async def main():
        answer = asyncio.create_task(PendingRequest.run("prepared", submitted.append))
        await asyncio.sleep(0)
        threading.Thread(target=submitted[0].resolve, args=("done",)).start()
        assert await answer == "done"
        cancelled = asyncio.create_task(PendingRequest.run("prepared", submitted.append))
        await asyncio.sleep(0)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert submitted[1].cancelled
        failed = asyncio.create_task(PendingRequest.run("prepared", submitted.append))
        await asyncio.sleep(0)
        submitted[2].resolve(ValueError("worker failed"))
        with pytest.raises(ValueError, match="worker failed"):
            await failed

    asyncio.run(main())
