"""Whether a run learns: updates skipped (non-finite losses, fp16 AMP overflow), a generator
learning rate at 0, and generator weights that never changed between the start and the end of
this session. The trainer feeds :class:`RunHealth`; ``train.py`` prints its verdict beside "Done".
"""
from __future__ import annotations

import hashlib
import logging

import torch
import torch.nn as nn

logger = logging.getLogger(__name__)
REASONS = ("non-finite loss", "AMP overflow")


def fingerprint(net: nn.Module) -> str:
    """A digest of every parameter's bytes (equal digests: equal weights, bit for bit)."""
    digest = hashlib.blake2b(digest_size=16)
    for name, p in net.named_parameters():
        digest.update(name.encode())
        digest.update(p.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class RunHealth:
    """Counts of what kept a run from learning, for the logs and the final summary.

    ``skipped[(network, reason)]``: updates skipped (network ``generator`` or ``discriminator``,
    reason one of :data:`REASONS`). ``zero_rate``: iterations whose generator rate was 0.
    """

    def __init__(self) -> None:
        self.skipped: dict[tuple[str, str], int] = {}
        self.iterations = self.zero_rate = 0
        self.unchanged: bool | None = None
        self._start: str | None = None

    def start(self, net_g: nn.Module) -> None:
        """Remember the generator's weights as this session begins (after any resume)."""
        self._start = fingerprint(net_g)

    def skip(self, network: str, reason: str, iteration: int) -> None:
        """An update of ``network`` was skipped at ``iteration`` (logged: AMP overflow at debug level,
        as fp16 runs skip a few steps while the loss scale settles)."""
        key = (network, reason)
        self.skipped[key] = self.skipped.get(key, 0) + 1
        logger.debug("iter %d: %s update skipped (%s)", iteration, network, reason)

    def rate(self, iteration: int, lr: float) -> None:
        """The generator's learning rate at ``iteration``; the first 0 is a warning."""
        self.iterations += 1
        if lr > 0:
            return
        if self.zero_rate == 0:
            logger.warning("iter %d: the generator's learning rate is 0 (train.optim_g.lr, scheduler, warm-up); "
                           "its weights do not change while it stays 0", iteration)
        self.zero_rate += 1

    def problems(self) -> list[str]:
        """What kept this session from learning, one short phrase each."""
        found = []
        generator = sum(n for (net, _), n in self.skipped.items() if net == "generator")
        if generator:
            why = ", ".join(f"{r}: {n}" for (net, r), n in sorted(self.skipped.items()) if net == "generator")
            found.append(f"{generator} of {self.iterations} generator updates skipped ({why})")
        if self.zero_rate:
            found.append(f"learning rate 0 in {self.zero_rate} of {self.iterations} iterations")
        d = sum(n for (net, _), n in self.skipped.items() if net == "discriminator")
        if d:
            found.append(f"{d} discriminator updates skipped")
        return found

    def finish(self, net_g: nn.Module) -> None:
        """Compare the generator with its start; log what kept the run from learning."""
        self.unchanged = self._start is not None and self.iterations > 0 and fingerprint(net_g) == self._start
        found = self.problems()
        if self.unchanged:
            logger.warning("the generator's weights did not change in %d iterations%s", self.iterations,
                           f": {'; '.join(found)}" if found else "")
        elif found:
            logger.warning("this run: %s", "; ".join(found))
