"""Running a stage as a command: user mistakes end in one clear message, never a traceback."""

import os
import signal
import sys


class UserError(Exception):
    """A problem the user can fix (bad params, a missing or foreign input); printed without a traceback."""


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def run(main):
    """Call main(sys.argv[1:]); turn user errors and SIGINT/SIGTERM into a short message and exit code."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        main(sys.argv[1:])
    except UserError as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        # Every write has cleaned up behind it by now. os._exit, not sys.exit: an XLA computation may
        # still run on another thread, and tearing the interpreter down under it can crash (SIGSEGV).
        print("interrupted: no output was written in place; `dvc checkout` restores the last good outputs",
              file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(1)
