"""Speed and memory of the memory models (what ``scripts/bench_memory.py`` reports).

Each model is a ``memory.cores`` core with the SAM paper's set-up (LSTM controller 100,
words of 32, 4 heads, K = 4), unrolled over random inputs; the measured program is the
jitted gradient of a loss of its outputs, i.e. one forward and one backward pass.

Memory figures come from XLA's own accounting of the compiled program
(``Compiled.memory_analysis()``: arguments + outputs + temporaries), so they are exact
for the program and need no run; they are what a device must hold at peak.

  backprop_added_bytes = peak(forward + backward) − peak(forward) − memory_bytes

i.e. what the backward pass adds beyond the memory's own gradient (the memory matrix
itself is part of the forward peak). For the dense models it is their per-step
residuals (≈ T copies of the N×W memory); for SAM the rows each step read.

Time per step: a call of the program also builds the initial state (a zeroed N×W
memory, an empty index, the usage), copies it into the loop and zeroes the memory's
gradient: O(N) work once per call that a training run carrying its state across unrolls
does not repeat each step. ``marginal_step_time`` leaves it out: the difference of the
call times at two unroll lengths over the difference of the lengths, the paper's "one
forward and backward step". ``step_time`` (call time / T) keeps it in.
"""

import time
from typing import NamedTuple

import numpy as np

import jax
import jax.numpy as jnp

from core import recurrent
from experiments import bench_stats
from memory import addressing
from memory import cores
from memory import index as index_lib

INPUT_SIZE = 8


class Program(NamedTuple):
  loss: callable     # jitted (params) -> scalar: the forward pass
  grad: callable     # jitted (params) -> grads: forward and backward
  params: object


def make_program(name: str, *, num_rows: int, batch_size: int, num_steps: int,
                 controller_size: int = 100, word_size: int = 32, num_reads: int = 4,
                 k: int = 4, seed: int = 0) -> Program:
  """Model ``name`` unrolled ``num_steps`` over a batch of random inputs; ``sam_lsh``
  is SAM with the LSH index."""
  index = 'lsh' if name == 'sam_lsh' else 'exact'
  core = cores.make_core(name.removesuffix('_lsh'), controller_size=controller_size,
                         num_rows=num_rows, word_size=word_size, num_reads=num_reads, k=k,
                         index=index)
  inputs_key, params_key = jax.random.split(jax.random.PRNGKey(seed))
  inputs = jax.random.normal(inputs_key, (num_steps, batch_size, INPUT_SIZE))
  params = core.init(params_key, inputs[0])

  def loss(params):
    state = core.initial_state(params, None, batch_size)
    first = jnp.zeros((num_steps, batch_size), bool)
    outputs = recurrent.unroll(core, params, state, inputs, first).outputs
    return jnp.mean(jnp.square(outputs))

  return Program(jax.jit(loss), jax.jit(jax.grad(loss)), params)


def peak_bytes(jitted, params) -> int:
  """Arguments + outputs + temporaries of the compiled program (XLA's accounting)."""
  analysis = jitted.lower(params).compile().memory_analysis()
  return int(analysis.argument_size_in_bytes + analysis.output_size_in_bytes
             + analysis.temp_size_in_bytes - analysis.alias_size_in_bytes)


def memory_bytes(num_rows: int, word_size: int = 32, batch_size: int = 1) -> int:
  return num_rows * word_size * 4 * batch_size


def backprop_memory(name: str, *, num_rows: int, num_steps: int = 100,
                    **sizes) -> dict:
  """Peak bytes of the forward and the forward+backward programs at batch 1, and what
  backprop adds (see the module docstring). Compiles only; runs nothing."""
  program = make_program(name, num_rows=num_rows, batch_size=1, num_steps=num_steps,
                         **sizes)
  forward = peak_bytes(program.loss, program.params)
  both = peak_bytes(program.grad, program.params)
  matrix = memory_bytes(num_rows, sizes.get('word_size', 32))
  return {'forward_peak_bytes': forward, 'grad_peak_bytes': both, 'memory_bytes': matrix,
          'backprop_added_bytes': both - forward - matrix}


def call_seconds(program: Program) -> float:
  """Seconds of one forward+backward call after compiling (a first, untimed call)."""
  jax.block_until_ready(program.grad(program.params))
  start = time.perf_counter()
  jax.block_until_ready(program.grad(program.params))
  return time.perf_counter() - start


def step_time(program: Program, num_steps: int, *, min_seconds: float = 1.0) -> float:
  """Seconds per unrolled step of one forward+backward call (compiled beforehand),
  averaged over calls filling at least ``min_seconds``."""
  return bench_stats.seconds_per_call(program.grad, program.params,
                                      min_seconds=min_seconds) / num_steps


def call_time(program: Program, *, min_seconds: float = 1.0) -> float:
  """Seconds per forward+backward call (compiled beforehand), averaged over calls filling
  at least ``min_seconds``."""
  return step_time(program, 1, min_seconds=min_seconds)


class StepTimes(NamedTuple):
  marginal: float   # seconds per step without the per-call setup
  per_call: float   # the long call's seconds / its steps (setup included)


def marginal_step_time(long: Program, long_steps: int, short: Program, short_steps: int,
                       *, min_seconds: float = 1.0) -> StepTimes:
  """Seconds per step without the per-call setup: (call(long) − call(short)) over the
  difference of their unroll lengths (the same model, batch and N); and with it."""
  if long_steps <= short_steps:
    raise ValueError(f'long_steps ({long_steps}) must exceed short_steps ({short_steps})')
  long_call = call_time(long, min_seconds=min_seconds)
  short_call = call_time(short, min_seconds=min_seconds)
  return StepTimes((long_call - short_call) / (long_steps - short_steps),
                   long_call / long_steps)


def lsh_recall(num_rows: int, *, word_size: int = 32, k: int = 4, num_queries: int = 256,
               noise: float = 0.3, seed: int = 0,
               other_probes: tuple[int, ...] = (1, 2, 4)) -> dict:
  """How well the default LSH index (``memory/index.py``) finds rows, on a memory of
  ``num_rows`` random Gaussian rows, every row inserted: keys are rows plus Gaussian
  noise of std ``noise`` (each coordinate). ``recall_at_1``: the fraction of keys whose
  best row is the exact best row; ``recall_at_k``: the fraction of the exact top-k rows
  found among the index's k. ``by_probes``: both figures, and the candidates scored per
  key, for the default and ``other_probes`` buckets probed per table (the tables are the
  same: only the query differs)."""
  memory_key, pick_key, noise_key = jax.random.split(jax.random.PRNGKey(seed), 3)
  memory = jax.random.normal(memory_key, (num_rows, word_size))
  index = index_lib.lsh(num_rows=num_rows, word_size=word_size)
  state = jax.jit(index.insert)(index.init(), memory, jnp.arange(num_rows))
  rows = jax.random.randint(pick_key, (num_queries,), 0, num_rows)
  keys = memory[rows] + noise * jax.random.normal(noise_key, (num_queries, word_size))
  exact = addressing.exact_top_k(memory, keys, k)
  bits, bucket_size = index_lib.lsh_sizes(num_rows)
  by_probes = {}
  default_probes = index_lib.default_probes(bits)
  for probes in sorted({default_probes, *other_probes}):
    if probes > bits + 1:
      continue
    probed = index_lib.lsh(num_rows=num_rows, word_size=word_size, probes=probes)
    found = jax.jit(probed.query, static_argnums=3)(state, memory, keys, k)
    by_probes[str(probes)] = {
        'recall_at_1': float(index_lib.recall(found[:, :1], exact[:, :1])),
        'recall_at_k': float(index_lib.recall(found, exact)),
        'candidates': state.table.shape[0] * probes * bucket_size,
        'source_row_first': float(np.mean(np.asarray(found[:, 0]) == np.asarray(rows)))}
  default = by_probes[str(default_probes)]
  return {'recall_at_1': default['recall_at_1'], 'recall_at_k': default['recall_at_k'],
          'k': k, 'queries': num_queries, 'noise': noise,
          'source_row_first': default['source_row_first'], 'by_probes': by_probes}
