"""Named config variants: ``get_config('a,b,key=value')`` applies them in order."""

from typing import Callable, Mapping

import ml_collections

Variant = Callable[[ml_collections.ConfigDict], ml_collections.ConfigDict]


def apply(config: ml_collections.ConfigDict, arg: str | None, variants: Mapping[str, Variant],
          *, default: str, source: str,
          parameterised: Mapping[str, Callable[[str], Variant]] | None = None
          ) -> ml_collections.ConfigDict:
  """Applies the comma-separated variants in ``arg`` (or ``default``) to ``config``.

  Args:
    config: the base config.
    arg: e.g. ``'memory,smoke'``; ``parameterised`` names take a value: ``'game=seaquest'``.
    variants: name -> function of the config.
    default: what an empty ``arg`` means.
    source: the config file, for error messages.
    parameterised: name -> (value -> variant), for ``name=value`` entries.
  """
  parameterised = parameterised or {}
  for name in filter(None, (arg or default).split(',')):
    key, has_value, value = name.partition('=')
    if has_value and key in parameterised:
      config = parameterised[key](value)(config)
    elif name in variants:
      config = variants[name](config)
    else:
      expected = ', '.join(list(variants) + [f'{k}=<value>' for k in parameterised])
      raise ValueError(f'{source}: unknown variant {name!r}; expected one of: {expected}')
  return config


def number(source: str, variant: str, value: str, is_valid: Callable[[float], bool],
           expected: str) -> float:
  """A ``variant=value`` entry's value as a float, or a ValueError naming the config file,
  the entry and what it expects (NaN fails every ``is_valid``)."""
  try:
    parsed = float(value)
  except ValueError:
    parsed = None
  return _checked(parsed, source, variant, value, is_valid, expected)


def integer(source: str, variant: str, value: str, is_valid: Callable[[int], bool],
            expected: str) -> int:
  """A ``variant=value`` entry's value as an int (decimal digits only), or a ValueError
  naming the config file, the entry and what it expects."""
  parsed = int(value) if value.strip().lstrip('+-').isdigit() else None
  return _checked(parsed, source, variant, value, is_valid, expected)


def _checked(parsed, source, variant, value, is_valid, expected):
  """``parsed``, or the ValueError of a value that did not parse (None) or is invalid."""
  if parsed is None or not is_valid(parsed):
    raise ValueError(f"{source} variant '{variant}={value}': expected {expected}")
  return parsed
