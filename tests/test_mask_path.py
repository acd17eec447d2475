"""The path of a mask that docs/architecture.md gives is the path a real search takes, and it is short."""

import inspect
import re
import sys
from pathlib import Path

import evoprune_deap
from evoprune_deap.config import GAConfig, HeadConfig
from evoprune_deap.evaluation.fitness import MaskFitness
from evoprune_deap.head.forward import head_logits
from evoprune_deap.head.masks import Encoding, HeadMasks
from evoprune_deap.head.scoring import HeadScore, Scoring
from evoprune_deap.head.trainer import HeadTrainer
from evoprune_deap.head.weights import HeadWeights
from evoprune_deap.records.directory import RunDirectory
from evoprune_deap.records.evaluation_log import EvaluationWriter, FinishedJournal
from evoprune_deap.run.evolution import evolve
from evoprune_deap.search import evaluator as evaluator_module
from evoprune_deap.search.bits import mask_key
from evoprune_deap.search.evaluator import Evaluation, Evaluator
from evoprune_deap.search.individual import Individual
from evoprune_deap.search.objectives import SingleObjective
from evoprune_deap.seeding import derive_seed

PACKAGE = Path(evoprune_deap.__file__).parent
DOCS = PACKAGE.parent / "docs" / "architecture.md"

# where each form of the mask is made, child to logged row
FORMS = (
    Individual,
    mask_key,
    Evaluator,
    Evaluation,
    MaskFitness,
    Encoding,
    HeadMasks,
    derive_seed,
    HeadWeights,
    HeadTrainer,
    head_logits,
    Scoring,
    HeadScore,
    SingleObjective,
    EvaluationWriter,
    FinishedJournal,
)


def documented_path() -> list[str]:
    section = DOCS.read_text().split("## The path of a mask")[1].split("\n## ")[0]
    return re.findall(r"^\d+\. `([^`]+)`", section, flags=re.MULTILINE)


def folder_changes(path: list[str]) -> int:
    """Changes of folder along the path; the package root's base modules are under every layer."""
    rooms = [file.split("/")[0] for file in path if "/" in file]
    return sum(a != b for a, b in zip(rooms, rooms[1:]))


def test_the_documented_path_is_at_most_12_files_and_4_changes_of_folder():
    path = documented_path()
    assert 8 <= len(path) <= 12, path
    assert len(set(path)) == len(path)
    assert all((PACKAGE / file).is_file() for file in path), path
    assert folder_changes(path) <= 4
    assert folder_changes(["search/a.py", "seeding.py", "head/b.py", "search/c.py"]) == 2
    assert folder_changes(["search/a.py", "head/b.py", "search/c.py", "head/d.py", "x/e.py", "y/f.py"]) == 5


def test_every_form_of_the_mask_is_made_in_a_file_of_the_path():
    path = set(documented_path())
    homes = {str(Path(inspect.getfile(form)).relative_to(PACKAGE)) for form in FORMS}
    assert homes <= path, sorted(homes - path)
    assert path <= homes, sorted(path - homes)  # and every file on the path makes one


def test_a_real_search_enters_every_file_of_the_path(faces_features, tmp_path, monkeypatch):
    """Traced while a real search scores and logs its first children (not the initial population)."""
    head = HeadConfig(hidden_units=(16,), max_epochs=2)
    encoding = Encoding("fc1", faces_features.n_features, head.hidden_units)
    fitness = MaskFitness(faces_features, encoding, head, "honest", seed=3)
    entered, tracing, submitted = set(), [False], [0]
    submit = evaluator_module.Evaluator.submit

    def submit_and_trace(self, individuals):
        submitted[0] += 1
        tracing[0] = tracing[0] or submitted[0] == 2  # the first pair of children
        return submit(self, individuals)

    def profile(frame, event, arg):
        if tracing[0] and event == "call" and frame.f_code.co_filename.startswith(str(PACKAGE)):
            entered.add(str(Path(frame.f_code.co_filename).relative_to(PACKAGE)))

    monkeypatch.setattr(evaluator_module.Evaluator, "submit", submit_and_trace)
    sys.setprofile(profile)
    try:
        state = evolve(fitness, encoding.n_bits, GAConfig(population=4, evaluations=6), 0, _run(tmp_path))
    finally:
        sys.setprofile(None)
    assert state.n_evaluations == 6 and submitted[0] >= 2
    missing = set(documented_path()) - entered
    assert not missing, missing


def _run(tmp_path) -> RunDirectory:
    return RunDirectory(str(tmp_path / "run")).create()
