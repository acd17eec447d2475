from setuptools import find_packages, setup

with open("requirements.txt") as stream:
    requirements = [
        line.strip()
        for line in stream
        if line.strip()
        and not line.startswith("#")
        and line.split(">")[0].split("=")[0].strip() not in {"pytest", "pytest-xdist", "hypothesis"}
    ]

setup(
    name="evoprune-deap",
    version="0.1.0",
    description="Evolutionary pruning of transfer-learning dense heads (EvoPruneDeepTL) with DEAP and Keras 3",
    packages=find_packages(include=["evoprune_deap", "evoprune_deap.*"]),
    python_requires=">=3.10",
    install_requires=requirements,
    # `pip install -e .[gpu]`: JAX with CUDA 12 (NVIDIA GPUs), for `[head] engine = "batched"`
    extras_require={"gpu": ["jax[cuda12]>=0.4.30,<0.13"]},
    entry_points={"console_scripts": ["evoprune=evoprune_deap.cli:main"]},
)
