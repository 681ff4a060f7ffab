"""Analysis of trained networks (``expressivity.analysis``).

State collection over prefix trees, automaton extraction (k-means, grid
quantization, white-box L*), counter detection, reachable-state growth,
saturation, and pictures. matplotlib, graphviz and aalpy load only where used.

What each analysis needs of a language (built in or user-defined: ``from_regex``,
``from_dfa``, ``from_constraints``, ``from_grammar``, a ``DFA``, a subclass):

- ``extract_dfa``, ``saturation_analysis``: membership, and members of a given
  length for the scoring (sampled through the DFA, the language's own sampler or
  its canonical members); no counter.
- ``find_counters``: ground-truth counters (``lang.counters(word)``), because it
  fits each state unit against the counter values; regular languages have none.
- ``growth_along``, ``reachable_states``, ``collect_states``: no language at all.

Examples
--------
>>> from expressivity.analysis import extract_dfa, find_counters   # doctest: +SKIP
>>> ext = extract_dfa(net, get_language("parity"), "lstar")         # doctest: +SKIP
>>> ext.dfa.n_states, ext.equivalent                                # doctest: +SKIP
(2, True)
"""

from .aalpy_adapter import aalpy_lstar, network_sul
from .collect import PrefixStates, collect_states, prefix_tree
from .counters import (
    CounterReport,
    ProbeFit,
    UnitFit,
    find_counters,
    format_spacing,
    sensitivity_table,
)
from .evaluate import eval_words
from .extract import Extraction, extract_dfa
from .growth import StateGrowth, growth_along, reachable_states
from .kmeans import KMeansResult, kmeans
from .lstar import LStarResult, StatePartition, lstar
from .plots import (
    plot_activation_trace,
    plot_dfa,
    plot_generalization,
    plot_state_growth,
    show_side_by_side,
)
from .quantize import QuantizeResult, quantize
from .saturation import SaturationReport, SaturationStep, saturate, saturation_analysis

__all__ = [
    "CounterReport",
    "Extraction",
    "KMeansResult",
    "LStarResult",
    "PrefixStates",
    "ProbeFit",
    "QuantizeResult",
    "SaturationReport",
    "SaturationStep",
    "StateGrowth",
    "StatePartition",
    "UnitFit",
    "aalpy_lstar",
    "collect_states",
    "eval_words",
    "extract_dfa",
    "find_counters",
    "format_spacing",
    "growth_along",
    "kmeans",
    "lstar",
    "network_sul",
    "plot_activation_trace",
    "plot_dfa",
    "plot_generalization",
    "plot_state_growth",
    "prefix_tree",
    "quantize",
    "reachable_states",
    "saturate",
    "saturation_analysis",
    "sensitivity_table",
    "show_side_by_side",
]
