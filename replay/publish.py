"""Re-publish dead-letter payloads to the topic with google-cloud-pubsub's batching publisher."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from google.cloud import pubsub_v1

from replay.plan import DeadLetter
from replay.tables import Replayed

PUBLISH_TIMEOUT = 60.0


@dataclass(frozen=True)
class Failed:
    letter: DeadLetter
    error: str


def publish(
    topic: str,
    letters: Sequence[DeadLetter],
    *,
    again: set[str] = frozenset(),
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Replayed], list[Failed]]:
    """Publishes each payload (`DeadLetter.data`) with its original attributes plus `replay_of`.

    Waits for every publish; `again`: message ids replayed before (recorded as such).
    Credentials: PUBSUB_EMULATOR_HOST, else Application Default Credentials.
    """
    publisher = pubsub_v1.PublisherClient()
    done: list[Replayed] = []
    failed: list[Failed] = []
    try:
        futures = [
            (letter, publisher.publish(topic, letter.data(), **letter.replay_attributes()))
            for letter in letters
        ]
        for count, (letter, future) in enumerate(futures, start=1):
            try:
                message_id = future.result(timeout=PUBLISH_TIMEOUT)
            except Exception as error:  # every failure is reported, none stops the others
                first_line = next(iter(str(error).splitlines()), "")
                failed.append(Failed(letter, f"{type(error).__name__}: {first_line}"))
            else:
                replayed_at = datetime.now(UTC)
                done.append(Replayed(letter, message_id, replayed_at, letter.message_id in again))
            if progress and count % 1000 == 0:
                progress(count)
    finally:
        publisher.stop()
    return done, failed
