"""The memory models by name, each as a ``core.recurrent.RecurrentCore`` with an LSTM
controller: what configs name in ``model.core`` (and an agent's ``core``).

  lstm   the controller alone (no memory)
  ntm    Neural Turing Machine (dense; content + location addressing)
  dnc    Differentiable Neural Computer (dense; allocation, temporal links)
  dam    dense access memory: SAM's model with dense weights
  sam    Sparse Access Memory (K rows per head), finding rows with ``index``: 'exact'
         (top-K over every row) or 'lsh' (memory/index.py: sub-linear, approximate)
  sdnc   sparse DNC: SAM's reads, writes and usage with sparse temporal links
         (K rows per read mode, ``links_per_row`` link entries per row; same ``index``)
"""

from core import recurrent
from core.nn import lstm
from memory import dnc
from memory import index as index_lib
from memory import memory_core
from memory import ntm
from memory import sam
from memory import sdnc

NAMES = ('lstm', 'ntm', 'dnc', 'dam', 'sam', 'sdnc')
MEMORY_NAMES = NAMES[1:]
INDEXES = ('exact', 'lsh')


def make_core(name: str, *, controller_size: int, num_rows: int = 128, word_size: int = 32,
              num_reads: int = 4, k: int = 4, index: str = 'exact',
              links_per_row: int = sdnc.LINKS_PER_ROW) -> recurrent.RecurrentCore:
  """The core ``name`` (see the module docstring). ``k`` and ``index`` are SAM's and the
  SDNC's, ``links_per_row`` the SDNC's; the memory arguments are ignored by ``lstm``.

  Raises:
    ValueError: for an unknown name or a size the model rejects (naming it).
  """
  if name == 'lstm':
    return lstm.lstm_core(controller_size)
  sizes = dict(num_rows=num_rows, word_size=word_size, num_reads=num_reads)
  if name == 'ntm':
    access = ntm.ntm_access(**sizes)
  elif name == 'dnc':
    access = dnc.dnc_access(**sizes)
  elif name == 'dam':
    access = sam.dam_access(**sizes)
  elif name in ('sam', 'sdnc'):
    if index not in INDEXES:
      raise ValueError(f'unknown index {index!r}; expected one of: {", ".join(INDEXES)}')
    finder = (index_lib.lsh(num_rows=num_rows, word_size=word_size) if index == 'lsh'
              else index_lib.exact(num_rows))
    if name == 'sam':
      access = sam.sam_access(**sizes, k=k, index=finder)
    else:
      access = sdnc.sdnc_access(**sizes, k=k, index=finder, links_per_row=links_per_row)
  else:
    raise ValueError(f'unknown memory core {name!r}; expected one of: {", ".join(NAMES)}')
  return memory_core.make_core(access, controller_size)
