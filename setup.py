from setuptools import find_packages, setup

with open("requirements.txt") as stream:
    requirements = [
        line.strip() for line in stream
        if line.strip() and not line.startswith("#")
        and not line.split(">")[0].split("=")[0].strip() in {"pytest", "hypothesis"}
    ]

setup(
    name="evoprune-deap",
    version="0.1.0",
    description="Evolutionary pruning of transfer-learning dense heads (EvoPruneDeepTL) with DEAP and Keras 3",
    packages=find_packages(include=["evoprune_deap", "evoprune_deap.*"]),
    python_requires=">=3.10",
    install_requires=requirements,
    entry_points={"console_scripts": ["evoprune=evoprune_deap.cli:main"]},
)
