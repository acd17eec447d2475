"""The presets a config starts from, before its TOML file and the command line's options."""

# "quick" fits the default `evoprune run` in minutes on 2 CPU cores (no final re-evaluation:
# 5 masks x 3 fresh trainings would add 15 to its 40); "paper" is the authors' budget (PAPER_EVALUATIONS)
# and heads (PAPER_HIDDEN_UNITS), with the final re-evaluation of its 5 best masks (3 fresh trainings
# each, 15 beside 200 evaluations) against the winner's curse; summary.json keeps the search's own best too.
PRESETS = {
    "quick": {"ga": {"population": 10, "evaluations": 40}, "head": {"max_epochs": 60}},
    "paper": {
        "data": {"image_size": 224},
        "ga": {"population": 30},
        "head": {"max_epochs": 600},
        "fitness": {"seeds": "common", "reevaluate": 5},
    },
}
