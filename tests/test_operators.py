import numpy as np
import pytest

from evoprune_deap.errors import EncodingError
from evoprune_deap.head.masks import Encoding
from evoprune_deap.search import operators
from evoprune_deap.search.bits import mask_from_hex, mask_key, mask_to_hex
from evoprune_deap.search.individual import Individual


def test_init_density_sets_round_p_times_length_bits():
    rng = np.random.default_rng(3)
    p = np.random.default_rng(3).uniform()
    individual = operators.init_density(100, rng)
    assert sum(individual) == round(p * 100)
    assert sum(operators.init_density(50, rng, density=0.3)) == 15
    assert sum(operators.init_density(50, rng, density=0.0)) == 0


def test_uniform_crossover_genes_come_from_parents_and_complement():
    rng = np.random.default_rng(0)
    a = Individual(rng.integers(0, 2, 200))
    b = Individual(rng.integers(0, 2, 200))
    c, d = operators.crossover_uniform(a, b, rng)
    a_, b_, c_, d_ = map(np.asarray, (a, b, c, d))
    assert len(c) == len(d) == 200
    assert np.all((c_ == a_) | (c_ == b_))
    assert np.all(np.where(c_ == a_, d_ == b_, d_ == a_))
    differ = a_ != b_
    assert 0.3 < np.mean(c_[differ] == a_[differ]) < 0.7  # about 50/50
    assert isinstance(c, Individual) and not c.fitness.valid


def test_flip_one_bit_flips_exactly_one():
    rng = np.random.default_rng(1)
    for _ in range(20):
        before = Individual(rng.integers(0, 2, 64))
        after = operators.flip_one_bit(Individual(before), rng)
        assert operators.hamming(before, after) == 1


def test_flip_bits_probability_zero_is_identity_and_one_flips_all():
    rng = np.random.default_rng(1)
    bits = Individual(rng.integers(0, 2, 64))
    assert list(operators.flip_bits(Individual(bits), rng, 0.0)) == list(bits)
    assert operators.hamming(operators.flip_bits(Individual(bits), rng, 1.0), bits) == 64


def test_assortative_mating_picks_the_farthest_candidate():
    population = [
        Individual([0] * 10),
        Individual([1] * 10),
        Individual([1] * 5 + [0] * 5),
        Individual([1, 0] * 5),
        Individual([0] * 9 + [1]),
    ]
    for seed in range(20):
        rng = np.random.default_rng(seed)
        first, second = operators.select_assortative(population, rng)
        replay = np.random.default_rng(seed)
        index = int(replay.integers(5))
        candidates = replay.choice(np.delete(np.arange(5), index), size=3, replace=False)
        assert first is population[index]
        farthest = max(operators.hamming(first, population[c]) for c in candidates)
        assert operators.hamming(first, second) == farthest
        assert second is not first


@pytest.mark.parametrize("name, n_bits", [("fc1", 16), ("fc2", 8), ("both", 24), ("fs", 10)])
def test_encodings_split_masks(name, n_bits):
    encoding = Encoding(name, 10, (16, 8))
    assert encoding.n_bits == n_bits
    mask = np.zeros(n_bits, dtype=bool)
    mask[::2] = True
    masks = encoding.head_masks(mask)
    assert masks.n_active[0] == (5 if name == "fs" else 10)
    assert masks.n_active[1] == (8 if name in ("fc1", "both") else 16)
    assert masks.n_active[2] == (4 if name in ("fc2", "both") else 8)


def test_encoding_rejects_bad_masks():
    encoding = Encoding("fc1", 10, (16, 8))
    with pytest.raises(EncodingError, match="needs 16 bits"):
        encoding.head_masks(np.ones(15))
    with pytest.raises(EncodingError, match="only 0/1"):
        encoding.head_masks(np.full(16, 2))
    with pytest.raises(EncodingError, match="two hidden layers"):
        Encoding("fc2", 10, (16,))
    assert encoding.head_masks(np.zeros(16)).is_empty()


def test_mask_serialisation_roundtrip():
    mask = np.random.default_rng(0).random(37) < 0.5
    assert np.array_equal(mask_from_hex(mask_to_hex(mask)), mask)
    assert mask_key(mask) != mask_key(~mask)
    with pytest.raises(EncodingError):
        mask_from_hex("nonsense")


def test_pair_mutation_happens_with_its_probability_and_flips_one_bit_per_child():
    rng = np.random.default_rng(0)
    mutated = 0
    for _ in range(2000):
        pair = (Individual([0] * 32), Individual([1] * 32))
        children = operators.mutate_pair(pair, rng, pair_prob=0.07, flip=operators.flip_one_bit)
        changed = [operators.hamming(child, [bit] * 32) for child, bit in zip(children, (0, 1))]
        assert changed in ([0, 0], [1, 1])  # both children or neither, one bit each
        mutated += changed[0]
    assert 0.05 < mutated / 2000 < 0.09
    never = operators.mutate_pair((Individual([0] * 8),) * 2, rng, pair_prob=0.0, flip=operators.flip_one_bit)
    assert [sum(child) for child in never] == [0, 0]


def _scored(bits, fitness):
    individual = Individual(bits)
    individual.fitness.values = (fitness,)
    return individual


def test_replace_worst_only_when_strictly_better():
    population = [_scored([1, 1, 0], 0.5), _scored([1, 0, 0], 0.2), _scored([1, 1, 1], 0.9)]
    tie = _scored([0, 1, 0], 0.2)  # same fitness and active count as the worst: not strictly better
    operators.replace_worst(population, tie)
    assert tie not in population
    sparser = _scored([0, 0, 0], 0.2)  # same fitness, fewer active bits: better
    operators.replace_worst(population, sparser)
    assert population[1] is sparser
    operators.replace_worst(population, _scored([1, 1, 1], 0.1))
    assert [ind.fitness.values[0] for ind in population] == [0.5, 0.2, 0.9]
