"""The `aiq-pipeline` command: emulators, settings check, one-shot sync, exceptions and retry, dry runs, the demo.

`app` holds the group and what every command shares; each module beside it adds its commands to the group.
"""

from aiq_pipeline.cli import doctor, documents, dry_run, emulators, journal, workspace
from aiq_pipeline.cli.app import main, quiet_libraries

__all__ = ["doctor", "documents", "dry_run", "emulators", "journal", "main", "quiet_libraries", "workspace"]
