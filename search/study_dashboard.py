"""What optuna-dashboard shows of a study besides its trials' attributes: the allocation plot
(``allocation.png``) of each trial on the front, as an Optuna artifact.

With a file storage, a trial's plot is attached when the trial is told, if it is on the front
of the trials finished so far in this process, in the folder beside the storage
(:func:`search.study_storage.artifact_dir`). A trial on the final front is on every earlier
front, so each one has its plot (a trial that a later one dominates keeps its plot; the
study's ``pareto_front`` attribute says which are final). Optuna attaches artifacts to a
running trial only, hence at tell time rather than after the search.

The front of the trials told so far is kept as they come (:class:`RunningFront`), so telling a
trial costs one pass over the front, not a new front of every finished trial.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import optuna

from spikebits.results import RunningFront, TrialRecord
from spikebits.search.study_storage import artifact_dir
from spikebits.space import SearchSpace
from spikebits.space.metrics import ACCURACY

#: File name of a trial's allocation plot among its Optuna artifacts.
ALLOCATION_ARTIFACT = "allocation.png"


class AllocationPlots:
    """The allocation plots of a study's front trials, attached as Optuna artifacts in the folder
    beside a file storage (nothing without one)."""

    def __init__(self, storage: str | None, study_name: str, space: SearchSpace, objectives: Sequence[str]) -> None:
        #: Where the artifacts go (None: the storage is not a file, no plots).
        self.folder = artifact_dir(storage)
        self.study_name = study_name
        self.space = space
        #: The front of the trials finished so far in this process.
        self.front = RunningFront(objectives)

    def attach(self, trial: optuna.trial.Trial, record: TrialRecord) -> None:
        """Attach ``record``'s allocation plot to ``trial`` (running, about to be told) when it
        is on the front of the trials finished so far. A plot that cannot be written is a
        warning, not a failed trial."""
        if self.folder is None or record.state != "COMPLETE" or not self.front.add(record):
            return
        from optuna.artifacts import FileSystemArtifactStore, upload_artifact

        from spikebits.results import plot_allocation  # matplotlib: only where a plot is drawn

        try:
            self.folder.mkdir(exist_ok=True)
            with tempfile.TemporaryDirectory() as tmp:
                png = Path(tmp) / ALLOCATION_ARTIFACT
                layers = self.space.complete(record.config, strict=False).to_dict()["layers"]
                accuracy = record.metrics.get(ACCURACY.name)
                label = f"trial {record.number}" + (f", accuracy {100 * accuracy:.2f} %" if accuracy is not None else "")
                plot_allocation(png, [{"label": label, "layers": layers}], title=f"{self.study_name}: trial {record.number}")
                upload_artifact(
                    artifact_store=FileSystemArtifactStore(self.folder), file_path=str(png), study_or_trial=trial, mimetype="image/png"
                )
        except (OSError, ValueError) as err:
            warnings.warn(f"trial {record.number}: its allocation plot was not attached to the study ({err})", stacklevel=2)
